"""Wires the parts into one asyncio process: scorer + alerts + bot + outbox worker.

`pressurebot run` and `pressurebot scan` both start here. Every part receives the
settings and the session factory explicitly, and `run_service` shows the whole path from
a score to a pushed alert: the scorer's cycle calls the alert engine inside its
transaction (`in_cycle_transaction`: events and outbox rows commit with the cycle), and
after the commit (`after_commit`) the outbox worker is woken to send them through the
bot's sender. Metrics are handed to each part as it is built.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.alerts.engine import AlertEngine
from bot.config import Settings
from bot.cycle import CycleResult
from bot.health import HealthState, start_health_server
from bot.market_view import MarketSnapshot, latest_market
from bot.markets.base import ExchangeError
from bot.markets.binance import BinanceAdapter
from bot.markets.http import ExchangeHttpClient
from bot.metrics import Metrics
from bot.scorer import Scorer
from bot.storage.db import DatabaseError, create_engine, migrate, session_factory
from bot.storage.sqlite_guard import (
    DatabaseLock,
    FileWatch,
    check_not_vanished,
    check_schema_current,
    check_sqlite_version,
    check_writable,
    refuse_to_recreate,
    sqlite_file,
    sqlite_library_version,
)
from bot.telegram.errors import AUTH_FAILED, TelegramAuthError

if TYPE_CHECKING:  # headless needs no PTB: the Telegram side is imported lazily
    from bot.telegram.app import BotRuntime
    from bot.telegram.outbox_worker import OutboxWorker
    from bot.telegram.webhook import WebhookEndpoint

logger = logging.getLogger(__name__)

TOKEN_HINT = (
    "no Telegram token configured: running headless (scores and alerts are logged). "
    "To enable the bot, set PRESSUREBOT_TELEGRAM__TOKEN (or TELEGRAM_BOT_TOKEN), "
    "or [telegram] token in config.toml, with a token from @BotFather."
)


@dataclass
class Parts:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    client: ExchangeHttpClient
    adapter: BinanceAdapter


@contextlib.asynccontextmanager
async def open_parts(
    settings: Settings, role: Literal["run", "scan", "migrate"] = "run"
) -> AsyncIterator[Parts]:
    """Engine (migrated) and exchange client, closed on the way out.

    On SQLite the database lock decides what may happen (docs/operations.md, "One
    process per database"): `run` holds it for its lifetime, `migrate` refuses while
    anyone holds it, and `scan` migrates only when it is free; next to a running service
    it just checks the schema is current and writes its cycle."""
    db = sqlite_file(settings.database.url)
    if db is not None:
        check_sqlite_version(sqlite_library_version())
    engine = create_engine(settings.database)  # creates the database folder; no I/O else
    lock: DatabaseLock | None = None
    try:
        migrate_now = True
        if db is not None:
            lock = DatabaseLock(db)
            if not lock.try_acquire():
                holder = lock.describe_holder()
                if role == "run":
                    raise DatabaseError(
                        f"database {db} is in use by {holder}; only one pressurebot run may "
                        "use a SQLite database"
                    )
                if role != "scan":
                    raise DatabaseError(f"database {db} is in use by {holder}; stop it first")
                if not db.exists():
                    raise DatabaseError(f"database {db} is being created by {holder}; try again")
                lock, migrate_now = None, False
            else:
                check_not_vanished(db, lock)
        if migrate_now:
            await migrate(engine)
        else:
            await check_schema_current(engine)
        if role != "migrate":
            await check_writable(engine)
        if db is not None:
            refuse_to_recreate(engine, db)
        if lock is not None:
            lock.mark(role)
            if role != "run":  # a scan holds it only while migrating
                lock.release()
        async with ExchangeHttpClient(settings.exchange) as client:
            adapter = BinanceAdapter(client, settings.exchange)
            yield Parts(settings, engine, session_factory(engine), client, adapter)
    finally:
        await engine.dispose()
        if lock is not None:
            lock.release()


async def scan_once(settings: Settings) -> MarketSnapshot | None:
    """Run and persist one cycle and return it as stored. Emits no alerts: a one-off
    scan must not race a running service's alert state."""
    async with open_parts(settings, role="scan") as parts:
        scorer = Scorer(parts.adapter, parts.sessions, settings)
        result = await scorer.run_cycle()
        async with parts.sessions() as session:
            snapshot = await latest_market(session, settings.exchange.name)
    if snapshot is None or snapshot.cycle_id != result.cycle_id:
        return None
    return snapshot


async def run_service(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Run until `stop` is set (or SIGINT/SIGTERM when no event is given).

    Start order: database (locked, migrated, writable), health server, bot. Whatever
    started is stopped again when a later step fails. A 401 from Telegram at run time
    stops the service and raises TelegramAuthError (exit 5)."""
    stop = stop or _stop_on_signals()
    token = settings.telegram.token.get_secret_value() if settings.telegram.token else None
    health = HealthState()
    metrics = Metrics()
    async with open_parts(settings) as parts, contextlib.AsyncExitStack() as stack:
        # Headless: alerts are logged, and no deliveries are queued for chats nobody can
        # send to (a token added later would otherwise flush the whole backlog).
        alerts = AlertEngine(settings, log_events=token is None, deliver=token is not None)
        hook = alerts.in_cycle_transaction
        scorer = Scorer(parts.adapter, parts.sessions, settings, in_cycle_transaction=hook)
        webhook = None
        if token and settings.telegram.webhook_url:  # served from the start; 503 until ready
            from bot.telegram.webhook import WebhookEndpoint

            webhook = WebhookEndpoint(settings.telegram)
        if settings.http.port:
            routes = [webhook.route()] if webhook is not None else []
            runner = await start_health_server(
                settings, parts.sessions, metrics, health, routes=routes
            )
            stack.push_async_callback(runner.cleanup)
        bot: BotRuntime | None = None
        worker: OutboxWorker | None = None
        if token:
            bot, worker = await _start_telegram(settings, parts.sessions, metrics, stack, webhook)
        else:
            logger.warning(TOKEN_HINT)
        _start_watchers(settings, bot, health, stop, stack)
        wake = worker.notify if worker is not None else None
        await scorer_loop(scorer, settings, stop, wake, metrics=metrics, health=health)
        if bot is not None and bot.auth_failed.is_set():
            raise TelegramAuthError(AUTH_FAILED)
    logger.info("stopped cleanly")


async def _start_telegram(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    metrics: Metrics,
    stack: contextlib.AsyncExitStack,
    webhook: WebhookEndpoint | None = None,
) -> tuple[BotRuntime, OutboxWorker]:
    """The bot, then the outbox worker sending through its sender; the stack stops the
    worker first (it may be mid-send), then the bot."""
    from bot.telegram.app import start_bot
    from bot.telegram.outbox_worker import OutboxWorker

    bot = await start_bot(settings, sessions, on_sent=metrics.send_seconds.observe, webhook=webhook)
    stack.push_async_callback(bot.stop)
    worker = OutboxWorker(
        sessions, bot.deps.sender, settings, on_stale=metrics.deliveries_stale.inc
    )
    await stack.enter_async_context(outbox_running(worker))
    return bot, worker


@contextlib.asynccontextmanager
async def outbox_running(worker: OutboxWorker) -> AsyncIterator[OutboxWorker]:
    """Run `worker` until the block ends; in-flight sends finish (its stop_timeout)."""
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop), name="outbox-worker")
    try:
        yield worker
    finally:
        stop.set()
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await task


def _start_watchers(
    settings: Settings,
    bot: BotRuntime | None,
    health: HealthState,
    stop: asyncio.Event,
    stack: contextlib.AsyncExitStack,
) -> None:
    """Database file and Telegram token watchers, cancelled when the stack unwinds."""
    watchers: list[asyncio.Task[None]] = []
    db = sqlite_file(settings.database.url)
    if db is not None:
        period = min(10.0, settings.scorer.interval_seconds)
        watchers.append(asyncio.create_task(_watch_file(FileWatch(db), health, period)))
    if bot is not None:
        watchers.append(asyncio.create_task(_watch_auth(bot.auth_failed, health, stop)))
    stack.push_async_callback(_cancel, watchers)


async def _watch_auth(failed: asyncio.Event, health: HealthState, stop: asyncio.Event) -> None:
    await failed.wait()
    health.set_problem("telegram", AUTH_FAILED)
    stop.set()


async def _watch_file(watch: FileWatch, health: HealthState, period: float) -> None:
    while True:
        problem = watch.problem()
        if problem is None:
            health.clear("database_file", f"database file {watch.db} is back")
        else:
            health.set_problem("database_file", problem)
        await asyncio.sleep(period)


async def _cancel(tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


async def scorer_loop(
    scorer: Scorer,
    settings: Settings,
    stop: asyncio.Event,
    after_commit: Callable[[], None] | None = None,
    metrics: Metrics | None = None,
    health: HealthState | None = None,
) -> None:
    """Cycles on a fixed cadence; backs off (capped at the interval) while the exchange
    is unreachable. A stop abandons an in-flight fetch; a started write completes."""
    interval = settings.scorer.interval_seconds
    backoff = 1.0
    url = settings.exchange.base_url
    while not stop.is_set():
        started = time.monotonic()
        cycle = asyncio.create_task(scorer.run_cycle())
        stopper = asyncio.create_task(stop.wait())
        await asyncio.wait({cycle, stopper}, return_when=asyncio.FIRST_COMPLETED)
        stopper.cancel()
        if not cycle.done():
            await _end_in_flight(scorer, cycle)
            return
        try:
            result = cycle.result()
        except Exception as exc:
            delay = min(backoff, interval)
            backoff = min(backoff * 2, 300.0)
            await _on_cycle_failure(exc, delay, url, scorer, metrics, health)
        else:
            backoff = 1.0
            delay = max(0.0, interval - (time.monotonic() - started))
            _on_cycle_success(result, after_commit, metrics, health)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=delay)


async def _end_in_flight(scorer: Scorer, cycle: asyncio.Task[CycleResult]) -> None:
    """On stop: a cycle already writing finishes (a half-written cycle would be a gap),
    one still fetching is abandoned (nothing of it is stored yet)."""
    if scorer.writing:
        with contextlib.suppress(Exception):
            await cycle
        logger.info("stop requested: finished writing the in-flight cycle")
    else:
        cycle.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await cycle
        logger.info("stop requested: abandoned the in-flight cycle")


async def _on_cycle_failure(
    exc: Exception,
    delay: float,
    url: str,
    scorer: Scorer,
    metrics: Metrics | None,
    health: HealthState | None,
) -> None:
    if isinstance(exc, ExchangeError):
        logger.warning("exchange %s unavailable: %s; retrying in %.0fs", url, exc, delay)
        with contextlib.suppress(Exception):
            await scorer.record_failure(str(exc))
        if metrics is not None:
            metrics.observe_failed_cycle()
    elif isinstance(exc, DBAPIError):
        # A database fault (read-only, disk full, I/O error) is not a bug: one line
        # with the cause, repeated at most once a minute, and /healthz unhealthy.
        if health is not None:  # the message stays the same, so it repeats once a minute
            health.set_problem(
                "database", f"cycle failed ({_cause(exc)}): database write failed; retrying"
            )
        else:
            _log_cycle_failure(exc, delay)
        if metrics is not None:
            metrics.observe_failed_cycle()
    else:
        _log_cycle_failure(exc, delay)


def _on_cycle_success(
    result: CycleResult,
    after_commit: Callable[[], None] | None,
    metrics: Metrics | None,
    health: HealthState | None,
) -> None:
    if health is not None:
        health.clear("database", "database writes work again")
    logger.info(
        "cycle %d: %s, %d/%d symbols, %d alerts, weight %d, %d history calls, %.2fs",
        result.cycle_id,
        result.status,
        result.symbols_fetched,
        result.symbols_attempted,
        result.events_created,
        result.weight_used,
        result.history_calls,
        (result.finished_ms - result.started_ms) / 1000,
    )
    if after_commit is not None and result.events_created:
        after_commit()
    if metrics is not None:
        metrics.observe_cycle(result)


def _log_cycle_failure(exc: Exception, delay: float) -> None:
    """One WARNING line naming the cause; a traceback only for what must be a bug.

    A database that is locked, read-only or unreachable, or a disk error, is an
    operational fault: the cause is the news, the traceback (at DEBUG) is not.
    """
    if isinstance(exc, SQLAlchemyError | OSError):
        logger.warning("cycle failed (%s); retrying in %.0fs", _cause(exc), delay)
        logger.debug("cycle failure", exc_info=exc)
        return
    logger.error(
        "cycle failed (unexpected %s, a bug); retrying in %.0fs",
        _cause(exc),
        delay,
        exc_info=exc,
    )


def _cause(exc: BaseException) -> str:
    """'database: OperationalError: database is locked', without SQLAlchemy's SQL dump."""
    orig = getattr(exc, "orig", None)
    inner = orig if isinstance(orig, BaseException) else exc
    first = str(inner).strip().splitlines()[0] if str(inner).strip() else ""
    text = f"{type(inner).__name__}: {first}" if first else type(inner).__name__
    return f"database: {text}" if isinstance(exc, SQLAlchemyError) else text


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, _request_stop, stop, sig)
    return stop


def _request_stop(stop: asyncio.Event, sig: signal.Signals) -> None:
    if not stop.is_set():
        logger.info("received %s: stopping", sig.name)
    stop.set()
