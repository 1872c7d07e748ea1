"""The scorer's cadence: one cycle per interval, backing off while the exchange is away.

Run by the replica holding the scorer lease (bot/cycle/election.py). A stop, or the
lease moving to another replica, abandons an in-flight fetch; a started write completes,
or is refused by the fence (`LeaseLost`) when the lease has moved on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Protocol

from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from bot.config import Settings
from bot.cycle.run import LeaseLost
from bot.health import HealthState
from bot.markets.base import ExchangeError
from bot.metrics import Metrics
from bot.scoring.result import CycleResult

logger = logging.getLogger(__name__)


class CycleRunner(Protocol):
    """What the loop drives: one venue's `Scorer`, or `VenueScorers` for several."""

    @property
    def writing(self) -> bool: ...

    async def run_cycle(self) -> CycleResult: ...

    async def record_failure(self, error: str) -> None: ...


MAX_BACKOFF_SECONDS = 300.0
LEASE_LOST = "scorer lease lost to another replica: this cycle is not stored; standing by"


async def scorer_loop(
    scorer: CycleRunner,
    settings: Settings,
    stop: asyncio.Event,
    after_commit: Callable[[], None] | None = None,
    metrics: Metrics | None = None,
    health: HealthState | None = None,
) -> None:
    """Cycles on a fixed cadence; backs off (capped at the interval) while the exchange
    is unreachable. A stop abandons an in-flight fetch; a started write completes.
    Returns on `stop`, or after one WARNING line when the fence refused a cycle."""
    interval = settings.scorer.interval_seconds
    backoff = 1.0
    failed = 0  # exchange failures in a row: the first is logged, the rest at DEBUG
    ex = settings.exchange
    # Several venues: the error is already the summary (bot/cycle/venues.py).
    where = f"exchange {ex.base_url} unavailable: " if len(ex.venues) == 1 else ""
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
        except LeaseLost:
            logger.warning(LEASE_LOST)
            return
        except Exception as exc:
            delay = min(backoff, interval)
            backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
            if isinstance(exc, ExchangeError):
                failed += 1
                _log_exchange_failure(
                    f"{where}{exc}", failed, delay, min(interval, MAX_BACKOFF_SECONDS)
                )
            await _on_cycle_failure(exc, scorer, metrics, health, delay)
        else:
            if failed and where:  # several venues: bot/cycle/venues.py says which
                logger.info("exchange answers again after %d failed cycle(s)", failed)
            backoff, failed = 1.0, 0
            delay = max(0.0, interval - (time.monotonic() - started))
            _on_cycle_success(result, after_commit, metrics, health)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=delay)


async def _end_in_flight(scorer: CycleRunner, cycle: asyncio.Task[CycleResult]) -> None:
    """On stop: a cycle already writing finishes (a half-written cycle would be a gap),
    one still fetching is abandoned (nothing of it is stored yet)."""
    if scorer.writing:
        try:
            await cycle
        except LeaseLost:
            logger.warning(LEASE_LOST)
            return
        except Exception:
            logger.debug("the in-flight cycle failed while stopping", exc_info=True)
        logger.info("scoring stops: finished writing the in-flight cycle")
    else:
        cycle.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await cycle
        logger.info("scoring stops: abandoned the in-flight cycle")


def _log_exchange_failure(error: str, failed: int, delay: float, cap: float) -> None:
    """The first failed cycle in a row is news (WARNING); the retries after it are not."""
    if failed == 1:
        logger.warning("%s; retrying, backing off up to %.0fs", error, cap)
    else:
        logger.debug("%s; failed cycle %d in a row, retrying in %.0fs", error, failed, delay)


async def _on_cycle_failure(
    exc: Exception,
    scorer: CycleRunner,
    metrics: Metrics | None,
    health: HealthState | None,
    delay: float,
) -> None:
    if isinstance(exc, ExchangeError):
        with contextlib.suppress(Exception):
            await scorer.record_failure(str(exc))
        if metrics is not None:
            metrics.observe_failed_cycle()
    elif isinstance(exc, DBAPIError):
        # A database fault (read-only, disk full, I/O error) is not a bug: one line
        # with the cause, repeated at most once a minute, and /healthz unhealthy.
        if health is not None:  # one outage whatever its causes: repeated once a minute
            health.set_problem(
                "database",
                f"cycle failed ({failure_cause(exc)}): database write failed; retrying",
                kind="database write failed",
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
        logger.warning("cycle failed (%s); retrying in %.0fs", failure_cause(exc), delay)
        logger.debug("cycle failure", exc_info=exc)
        return
    logger.error(
        "cycle failed (unexpected %s, a bug); retrying in %.0fs",
        failure_cause(exc),
        delay,
        exc_info=exc,
    )


def failure_cause(exc: BaseException) -> str:
    """'database: OperationalError: database is locked', without SQLAlchemy's SQL dump."""
    orig = getattr(exc, "orig", None)
    inner = orig if isinstance(orig, BaseException) else exc
    first = str(inner).strip().splitlines()[0] if str(inner).strip() else ""
    text = f"{type(inner).__name__}: {first}" if first else type(inner).__name__
    return f"database: {text}" if isinstance(exc, SQLAlchemyError) else text
