"""Wires the parts into one asyncio process: scorer + alerts + bot + outbox worker.

`pressurebot run` and `pressurebot scan` both start here. Every part receives the
settings and the session factory explicitly, and `run_service` shows the whole path from
a score to a pushed alert: the scorer's cycle calls the alert engine inside its
transaction (`in_cycle_transaction`: events and outbox rows commit with the cycle), and
after the commit (`after_commit`) the outbox worker is woken to send them through the
bot's sender. `run --role` (bot/replica.py) picks which parts this process runs; the
scorer runs only while this replica holds the scorer lease (bot/cycle/election.py), so
replicas can share one PostgreSQL database (docs/operations.md, "Running several replicas").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.config import ConfigError, Settings
from bot.cycle.alert_hook import AlertEngine
from bot.cycle.election import ScorerElection, elected_scorer_loop
from bot.cycle.positioning import PositioningCollector
from bot.cycle.run import CycleFence, CycleHook, LeaseLost, Scorer
from bot.cycle.venues import VenueScorers
from bot.health import HealthState
from bot.liquidations.figures import CascadeReader
from bot.liquidations.metrics import LiqCollector
from bot.liquidations.runner import AdapterUniverse, LiqRunner
from bot.markets.adapters import open_adapters
from bot.markets.base import ExchangeAdapter
from bot.metrics import Metrics
from bot.replay.history_sources import HistorySources, history_sources
from bot.replica import Replica, Role, news_level, replica_name
from bot.scoring.aggregate import ALL
from bot.storage import leases
from bot.storage.db import DatabaseError, create_engine, is_sqlite, migrate, session_factory
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
from bot.views.market import MarketSnapshot, latest_market, unstored_snapshot
from bot.web import dashboard_routes
from bot.web.health_server import start_health_server

if TYPE_CHECKING:  # headless needs no PTB: the Telegram side is imported lazily
    from bot.telegram.app import BotRuntime
    from bot.telegram.outbox_only import SenderRuntime
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
    # One per enabled venue (exchange.venues), in that order; their clients close with
    # the parts.
    adapters: list[ExchangeAdapter]
    history: HistorySources | None = None  # recorded history, loaded on first use (run)

    def scorer(
        self, hook: CycleHook | None = None, fence: CycleFence | None = None
    ) -> Scorer | VenueScorers:
        """One venue: its Scorer, exactly as before venues; several: each venue's
        Scorer and the cross-venue aggregate (bot/cycle/venues.py)."""
        scorers = [
            Scorer(a, self.sessions, self.settings, in_cycle_transaction=hook, fence=fence)
            for a in self.adapters
        ]
        if len(scorers) == 1:
            return scorers[0]
        return VenueScorers(scorers, self.sessions, self.settings, hook, fence=fence)


@contextlib.asynccontextmanager
async def open_parts(
    settings: Settings,
    role: Literal["run", "scan", "migrate"] = "run",
    venues: Sequence[str] | None = None,
) -> AsyncIterator[Parts]:
    """Engine (migrated) and an exchange client per venue in `venues` (default: every
    enabled venue), closed on the way out.

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
        async with contextlib.AsyncExitStack() as stack:
            adapters = await open_adapters(settings, stack, venues=venues)
            yield Parts(settings, engine, session_factory(engine), adapters)
    finally:
        await engine.dispose()
        if lock is not None:
            lock.release()


SCAN_NOT_STORED = (
    "a replica holds the scorer lease on this database: the scan is printed, not stored "
    "(the elected scorer's cycles are the record)"
)


async def scan_once(settings: Settings, exchange: str | None = None) -> MarketSnapshot | None:
    """Run and persist one cycle and return `exchange`'s as stored (default: the one
    venue, else the aggregate "all"). Emits no alerts: a one-off scan must not race a
    running service's alert state. On PostgreSQL, while a replica holds the scorer
    lease, the cycle is returned but not stored: a stray cycle would move the next
    holder's schedule (bot/cycle/election.py) and sit between the scorer's own cycles.
    One venue asked for (`exchange`): only that venue is fetched."""
    venues = [exchange] if exchange in settings.exchange.venues else None
    async with open_parts(settings, role="scan", venues=venues) as parts:
        fence = None if is_sqlite(parts.engine) else _no_live_scorer
        scorer = parts.scorer(fence=fence)
        shown = exchange or (settings.exchange.venues[0] if len(parts.adapters) == 1 else ALL)
        try:
            result = await scorer.run_cycle()
        except LeaseLost as exc:
            if exc.result is None:
                raise
            logger.warning(SCAN_NOT_STORED)
            ran = scorer.results.get(shown) if isinstance(scorer, VenueScorers) else exc.result
            return unstored_snapshot(ran) if ran is not None and ran.scores else None
        results = scorer.results if isinstance(scorer, VenueScorers) else {}
        results[result.exchange] = result
        async with parts.sessions() as session:
            snapshot = await latest_market(session, shown)
    ran = results.get(shown)  # None: that venue failed in this scan
    if snapshot is None or ran is None or snapshot.cycle_id != ran.cycle_id:
        return None
    return snapshot


async def _no_live_scorer(session: AsyncSession) -> bool:
    return await leases.is_free(session, leases.SCORER)


async def run_service(
    settings: Settings, stop: asyncio.Event | None = None, role: Role = "all"
) -> None:
    """Run until `stop` is set (or SIGINT/SIGTERM when no event is given), as the parts
    `role` names (bot/replica.py).

    Start order: database (locked, migrated, writable), health server, bot. Whatever
    started is stopped again when a later step fails. A 401 from Telegram at run time
    stops the service and raises TelegramAuthError (exit 5)."""
    replica = Replica(replica_name(settings), role)
    token = settings.telegram.token.get_secret_value() if settings.telegram.token else None
    check_role(settings, replica, token is not None)
    stop = stop or _stop_on_signals()
    health = HealthState()
    metrics = Metrics()
    async with open_parts(settings) as parts, contextlib.AsyncExitStack() as stack:
        logger.log(news_level(settings), "replica %s, role %s", replica.name, replica.role)
        webhook: WebhookEndpoint | None = None
        if token and replica.runs_bot and settings.telegram.webhook_url:
            # Served from the start: 503 until the bot is ready, so a load balancer
            # tries another replica meanwhile.
            from bot.telegram.webhook import WebhookEndpoint

            webhook = WebhookEndpoint(settings.telegram)
        if settings.http.port:
            routes = [webhook.route()] if webhook is not None else []
            parts.history = recorded = history_sources(settings)
            pages = recorded.builtin_evidence, recorded.lookalikes  # the rules page, cards
            routes += dashboard_routes(parts.sessions, settings, *pages)  # read-only
            runner = await start_health_server(
                settings, parts.sessions, metrics, health, replica, routes=routes
            )
            stack.push_async_callback(runner.cleanup)
        bot: BotRuntime | SenderRuntime | None = None
        worker: OutboxWorker | None = None
        if token and (replica.runs_bot or replica.runs_worker):
            bot, worker = await _start_telegram(settings, parts, metrics, stack, replica, webhook)
        elif not token:
            logger.warning(TOKEN_HINT)
        _start_watchers(settings, bot, health, stop, stack)
        if replica.runs_scorer and settings.liquidations.enabled:
            universe = AdapterUniverse({a.name: a for a in parts.adapters})
            liquidations = LiqRunner(settings, parts.sessions, replica.name, universe)
            metrics.registry.register(LiqCollector(liquidations))
            await stack.enter_async_context(liquidations.running())
        if replica.runs_scorer:
            wake = worker.notify if worker is not None else None
            await _score(settings, parts, replica, stop, wake, metrics, health)
        else:
            await stop.wait()
        if bot is not None and bot.auth_failed.is_set():
            raise TelegramAuthError(AUTH_FAILED)
    logger.info("stopped cleanly")


def check_role(settings: Settings, replica: Replica, has_token: bool) -> None:
    """One readable line (exit 2) for a role this configuration cannot run."""
    if replica.role == "all":
        return
    if make_url(settings.database.url).get_backend_name() == "sqlite":
        raise ConfigError(
            f"--role {replica.role} needs PostgreSQL: several processes cannot share a "
            "SQLite database; use --role all (the default), or set database.url to "
            "postgresql+asyncpg://..."
        )
    if replica.role in ("bot", "worker") and not has_token:
        raise ConfigError(f"--role {replica.role} needs a Telegram token (telegram.token)")


async def _score(
    settings: Settings,
    parts: Parts,
    replica: Replica,
    stop: asyncio.Event,
    wake: Callable[[], None] | None,
    metrics: Metrics,
    health: HealthState,
) -> None:
    """Stand by for the scorer lease; score, and fetch positioning beside, while held."""
    has_token = settings.telegram.token is not None
    # Headless: alerts are logged, and no deliveries are queued for chats nobody can
    # send to (a token added later would otherwise flush the whole backlog).
    # Cascades read the liquidation buckets, whichever replica holds the streams.
    liq = CascadeReader(parts.sessions) if settings.liquidations.enabled else None
    alerts = AlertEngine(settings, log_events=not has_token, deliver=has_token, cascades=liq)
    election = ScorerElection(parts.sessions, settings, replica.name)
    scorer = parts.scorer(alerts.in_cycle_transaction, election.fence)
    held, interval = (lambda: election.keeper.held), settings.scorer.interval_seconds
    async with PositioningCollector(parts.adapters, parts.sessions).running(stop, held, interval):
        await elected_scorer_loop(scorer, election, stop, wake, metrics=metrics, health=health)


# The outbox worker's idle poll when the scorer may run in another process (PostgreSQL):
# its after-commit wake reaches only its own process's worker. SQLite: the worker's 5 s.
CROSS_PROCESS_POLL_SECONDS = 1.0


async def _start_telegram(
    settings: Settings,
    parts: Parts,
    metrics: Metrics,
    stack: contextlib.AsyncExitStack,
    replica: Replica,
    webhook: WebhookEndpoint | None = None,
) -> tuple[BotRuntime | SenderRuntime, OutboxWorker | None]:
    """The bot (or, for --role worker, its sender alone), then the outbox worker sending
    through its sender; the stack stops the worker first (it may be mid-send), then the
    bot."""
    from bot.telegram.app import start_bot
    from bot.telegram.outbox_only import start_sender
    from bot.telegram.outbox_worker import OutboxWorker

    sessions, observe = parts.sessions, metrics.send_seconds.observe
    bot: BotRuntime | SenderRuntime
    if replica.runs_bot:
        bot = await start_bot(
            settings, sessions, on_sent=observe, webhook=webhook, holder=replica.name
        )
    else:
        bot = await start_sender(settings, sessions, on_sent=observe)
    stack.push_async_callback(bot.stop)
    bot.deps.replica = replica
    history = parts.history or history_sources(settings)
    history.attach(bot.deps)  # /rule test, the built-ins, the cards' lookalike line
    if not replica.runs_worker:
        return bot, None
    poll = 5.0 if is_sqlite(parts.engine) else CROSS_PROCESS_POLL_SECONDS
    worker = OutboxWorker(
        sessions,
        bot.deps.sender,
        settings,
        poll_interval=poll,
        on_stale=metrics.deliveries_stale.inc,
        replica=replica.name,
    )
    worker.lookalikes = history.pushes
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
    bot: BotRuntime | SenderRuntime | None,
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
    await asyncio.gather(*tasks, return_exceptions=True)  # their ends, whatever they were


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
