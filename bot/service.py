"""Wires the parts into one asyncio process: scorer + alerts + bot + dispatcher.

`pressurebot run` and `pressurebot scan` both start here. Every part receives the
settings and the session factory explicitly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.alerts.service import AlertEngine
from bot.config import Settings
from bot.health import start_health_server
from bot.market_view import MarketSnapshot, latest_market
from bot.markets.base import ExchangeError
from bot.markets.binance import BinanceAdapter
from bot.markets.http import ExchangeHttpClient
from bot.metrics import Metrics
from bot.scorer import Scorer
from bot.storage.db import create_engine, migrate, session_factory

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
async def open_parts(settings: Settings) -> AsyncIterator[Parts]:
    """Engine (migrated) and exchange client, closed on the way out."""
    engine = create_engine(settings.database)
    try:
        await migrate(engine)
        async with ExchangeHttpClient(settings.exchange) as client:
            adapter = BinanceAdapter(client, settings.exchange)
            yield Parts(settings, engine, session_factory(engine), client, adapter)
    finally:
        await engine.dispose()


async def scan_once(settings: Settings) -> MarketSnapshot | None:
    """Run and persist one cycle and return it as stored. Emits no alerts: a one-off
    scan must not race a running service's alert state."""
    async with open_parts(settings) as parts:
        scorer = Scorer(parts.adapter, parts.sessions, settings)
        result = await scorer.run_cycle()
        async with parts.sessions() as session:
            snapshot = await latest_market(session, settings.exchange.name)
    if snapshot is None or snapshot.cycle_id != result.cycle_id:
        return None
    return snapshot


async def run_service(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Run until `stop` is set (or SIGINT/SIGTERM when no event is given)."""
    stop = stop or _stop_on_signals()
    token = settings.telegram.token.get_secret_value() if settings.telegram.token else None
    async with open_parts(settings) as parts:
        # Headless: alerts are logged, and no deliveries are queued for chats nobody can
        # send to (a token added later would otherwise flush the whole backlog).
        alerts = AlertEngine(settings, log_events=token is None, deliver=token is not None)
        scorer = Scorer(parts.adapter, parts.sessions, settings, on_cycle=alerts.on_cycle)
        metrics = Metrics()
        bot = None
        if token:
            from bot.telegram.app import start_bot  # imported lazily: headless needs no PTB

            bot = await start_bot(settings, parts.sessions)
            bot.deps.sender.on_sent = metrics.send_seconds.observe
            bot.dispatcher.on_stale = metrics.deliveries_stale.inc
        else:
            logger.warning(TOKEN_HINT)
        health = None
        if settings.http.port:
            health = await start_health_server(settings, parts.sessions, metrics)
        on_done = bot.notify if bot is not None else None
        try:
            await scorer_loop(scorer, settings, stop, on_cycle_done=on_done, metrics=metrics)
        finally:
            if bot is not None:
                await bot.stop()
            if health is not None:
                await health.cleanup()
    logger.info("stopped cleanly")


async def scorer_loop(
    scorer: Scorer,
    settings: Settings,
    stop: asyncio.Event,
    on_cycle_done: Callable[[], None] | None = None,
    metrics: Metrics | None = None,
) -> None:
    """Cycles on a fixed cadence; backs off (capped at the interval) while the exchange
    is unreachable. A stop abandons an in-flight fetch; a started write completes."""
    interval = settings.scorer.interval_seconds
    backoff = 1.0
    url = settings.exchange.base_url
    while not stop.is_set():
        started = time.monotonic()
        delay = interval
        cycle = asyncio.create_task(scorer.run_cycle())
        stopper = asyncio.create_task(stop.wait())
        await asyncio.wait({cycle, stopper}, return_when=asyncio.FIRST_COMPLETED)
        stopper.cancel()
        if not cycle.done():
            if scorer.writing:
                with contextlib.suppress(Exception):
                    await cycle
                logger.info("stop requested: finished writing the in-flight cycle")
            else:
                cycle.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await cycle
                logger.info("stop requested: abandoned the in-flight cycle")
            return
        try:
            result = cycle.result()
        except ExchangeError as exc:
            delay = min(backoff, interval)
            backoff = min(backoff * 2, 300.0)
            logger.warning("exchange %s unavailable: %s; retrying in %.0fs", url, exc, delay)
            with contextlib.suppress(Exception):
                await scorer.record_failure(str(exc))
            if metrics is not None:
                metrics.observe_failed_cycle()
        except Exception:
            delay = min(backoff, interval)
            backoff = min(backoff * 2, 300.0)
            logger.exception("cycle failed; retrying in %.0fs", delay)
        else:
            backoff = 1.0
            delay = max(0.0, interval - (time.monotonic() - started))
            logger.info(
                "cycle %d: %s, %d/%d symbols, %d alerts, weight %d, %d history calls, %.2fs",
                result.cycle_id,
                result.status,
                result.symbols_fetched,
                result.symbols_attempted,
                result.alerts_emitted,
                result.weight_used,
                result.history_calls,
                (result.finished_ms - result.started_ms) / 1000,
            )
            if on_cycle_done is not None and result.alerts_emitted:
                on_cycle_done()
            if metrics is not None:
                metrics.observe_cycle(result)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=delay)


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
