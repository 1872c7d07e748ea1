"""The scoring cycle: fetch, compute OI deltas, score, persist one cycle atomically.

Fetching is cancellable at any point (nothing is written until the end), and ends at the
cycle deadline (`cycle_deadline_share` of the interval): what has not answered by then
counts as failed for this cycle. The write is one short transaction holding the cycle,
its snapshots, the new OI samples and, through the hook, its alert events and
deliveries. What the scorer remembers between cycles (which backfills are done) changes
only after that transaction commits. The fetch itself lives in `bot.cycle.fetch`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.cycle import retention
from bot.cycle.fetch import CycleFetcher, Fetched
from bot.cycle.freshness import STALE
from bot.cycle.percentiles import PercentileBook
from bot.markets.base import ExchangeAdapter, OiPoint
from bot.scoring import windows as oi_windows
from bot.scoring.formula import InvalidInput, ScoreInputs, basis_pct, compute_score, pct_change
from bot.scoring.result import CycleResult, SymbolScore
from bot.storage import bulk, hourly_repo, market_repo
from bot.storage.db import checkpoint_wal
from bot.storage.models import Cycle, OiSample, ScoreSnapshot

logger = logging.getLogger(__name__)

# Runs in the cycle's transaction after the snapshots; returns the alert events it made.
CycleHook = Callable[[AsyncSession, CycleResult], Awaitable[int]]

DEFAULT_FUNDING_INTERVAL_HOURS = 8
_Fetched = Fetched  # the persist code below and bench/storage.py know it by this name
PRUNE_EVERY_MS = 10 * 60_000

# Called first inside each of the scorer's write transactions: False means this replica
# no longer holds the scorer lease (bot/cycle/election.py), and the write rolls back.
CycleFence = Callable[[AsyncSession], Awaitable[bool]]


@dataclass(frozen=True, slots=True)
class VenueFetch:
    """What one venue's cycle read, kept for the cross-venue aggregate
    (bot/cycle/venues.py): its fetch, and per symbol the OI at each window's anchor
    ("1h" -> OI then, None: unknown), from this venue's own samples."""

    fetched: Fetched
    oi_then: dict[str, dict[str, float | None]]


class LeaseLost(Exception):
    """The fence refused a write: another replica holds the scorer lease now. Nothing
    of this cycle is stored; `result` is the cycle as computed (`scan` prints it)."""

    result: CycleResult | None = None


class Scorer:
    def __init__(
        self,
        adapter: ExchangeAdapter,
        sessions: async_sessionmaker[AsyncSession],
        settings: Settings,
        in_cycle_transaction: CycleHook | None = None,
        clock: Callable[[], float] = time.time,
        fence: CycleFence | None = None,
    ) -> None:
        self._adapter = adapter
        self._sessions = sessions
        self._settings = settings
        self._in_cycle_transaction = in_cycle_transaction
        self._clock = clock
        self._fence = fence
        self._backfill_tried: dict[str, int] = {}
        # Shares `_backfill_tried`: the fetch reads it, `_persist` updates it after commit.
        self._fetcher = CycleFetcher(adapter, sessions, settings, self._backfill_tried)
        self._synced_universe: frozenset[str] = frozenset()
        self._last_prune_ms = 0
        self.percentiles = PercentileBook(sessions, adapter.name)
        # The last cycle's fetch; None until one is fetched, kept after failures (its
        # universe says which coins a failing venue lists).
        self.last: VenueFetch | None = None
        # True while the cycle's transaction is open: a stop then waits for it (it is
        # short) instead of cancelling, so shutdown never races a commit.
        self.writing = False

    @property
    def exchange(self) -> str:
        return self._adapter.name

    @property
    def deadline_seconds(self) -> float:
        s = self._settings.scorer
        return s.interval_seconds * s.cycle_deadline_share

    async def run_cycle(self) -> CycleResult:
        """One cycle. Raises ExchangeError when the exchange cannot be used at all."""
        started_ms = int(self._clock() * 1000)
        # Monotonic: the wall clock may be a test's frozen one, or jump.
        deadline = asyncio.get_running_loop().time() + self.deadline_seconds
        self._adapter.reset_counters()
        fetched = await self._fetcher.fetch(deadline)
        anchors = await self._fetcher.anchors(fetched, started_ms, deadline)
        result = CycleResult(
            cycle_id=0,
            exchange=self._adapter.name,
            started_ms=started_ms,
            finished_ms=0,
            symbols_attempted=len(fetched.instruments),
            failed=fetched.failed,
        )
        wins = self._windows(started_ms)
        oi_then: dict[str, dict[str, float | None]] = {}
        for symbol in sorted(fetched.oi):
            samples = anchors.samples.get(symbol, [])
            bases = [oi_windows.anchor(samples, w) for w in wins]
            oi_then[symbol] = {f"{w.hours}h": b for w, b in zip(wins, bases, strict=True)}
            scored = self._score_symbol(symbol, fetched, bases)
            if isinstance(scored, str):
                result.failed[symbol] = scored
            else:
                result.scores.append(scored)
                if symbol in anchors.held:
                    result.held[symbol] = anchors.held[symbol]
        result.weight_used = self._adapter.weight_used()
        result.history_calls = self._adapter.history_calls()
        await self.percentiles.update(result)
        result.finished_ms = int(self._clock() * 1000)
        # Before the write: a scan beside a live scorer (LeaseLost) still aggregates it.
        self.last = VenueFetch(fetched, oi_then)
        self.writing = True
        try:
            await self._persist(result, fetched, anchors.points, anchors.backfilled)
        except LeaseLost as exc:
            exc.result = result
            raise
        finally:
            self.writing = False
        await self._checkpoint()
        return result

    async def _checkpoint(self) -> None:
        """Fold the cycle's WAL back into the database after its commit, so the commit
        itself never pays for a checkpoint (bot/storage/db.py, WAL checkpoints). A
        failure here loses nothing: the cycle is stored, and the next one retries."""
        try:
            await checkpoint_wal(self._sessions)
        except SQLAlchemyError as exc:
            logger.warning("WAL checkpoint after the cycle failed: %s", exc)

    def _windows(self, now_ms: int) -> list[oi_windows.Window]:
        return self._fetcher.windows(now_ms)

    async def record_failure(self, error: str) -> None:
        """Keep a trace of a cycle that could not run, for /status and the metrics."""
        now_ms = int(self._clock() * 1000)
        async with self._sessions() as session, session.begin():
            await self._check_fence(session)
            session.add(
                Cycle(
                    exchange=self._adapter.name,
                    started_ms=now_ms,
                    finished_ms=now_ms,
                    status="failed",
                    symbols_attempted=0,
                    symbols_fetched=0,
                    symbols_failed=0,
                    weight_used=self._adapter.weight_used(),
                    history_calls=self._adapter.history_calls(),
                    errors=error[:2000],
                )
            )

    async def _check_fence(self, session: AsyncSession) -> None:
        if self._fence is not None and not await self._fence(session):
            raise LeaseLost("another replica holds the scorer lease")

    # ------------------------------------------------------------ score

    def _score_symbol(
        self,
        symbol: str,
        fetched: _Fetched,
        bases: Sequence[float | None],
    ) -> SymbolScore | str:
        oi, prem = fetched.oi[symbol], fetched.premium[symbol]
        interval = fetched.intervals.get(symbol, DEFAULT_FUNDING_INTERVAL_HOURS)
        deltas = [None if base is None else pct_change(base, oi.contracts) for base in bases]
        try:
            basis = basis_pct(prem.mark_price, prem.index_price)
            inputs = ScoreInputs(
                oi_1h=deltas[0],
                oi_4h=deltas[1],
                oi_24h=deltas[2],
                funding_pct=prem.funding_rate * 100.0,
                funding_interval_hours=interval,
                basis_pct=basis,
            )
            score = compute_score(inputs, self._settings.scoring)
        except InvalidInput as exc:
            return f"invalid input: {exc}"
        return SymbolScore(
            exchange=self._adapter.name,
            symbol=symbol,
            score=score,
            oi_contracts=oi.contracts,
            oi_1h_pct=deltas[0],
            oi_4h_pct=deltas[1],
            oi_24h_pct=deltas[2],
            funding_pct=inputs.funding_pct,
            funding_interval_hours=interval,
            mark_price=prem.mark_price,
            index_price=prem.index_price,
            basis_pct=basis,
            funding_next_pct=None if (p := prem.predicted_funding_rate) is None else p * 100.0,
        )

    # ------------------------------------------------------------ persist

    async def _persist(
        self,
        result: CycleResult,
        fetched: _Fetched,
        hist: dict[str, list[OiPoint]],
        backfilled: Sequence[str] = (),
    ) -> None:
        exchange = result.exchange
        # Rows are built before the write lock is taken, so the lock is held only while
        # the statements run (every other writer queues behind it).
        snapshots = snapshot_values(result)
        samples = _sample_rows(exchange, fetched, hist)
        async with self._sessions() as session, session.begin():
            # First: on PostgreSQL it also locks the lease row, so no takeover can
            # complete while this cycle is being written (bot/storage/leases.py).
            await self._check_fence(session)
            universe = frozenset(fetched.instruments)
            if universe != self._synced_universe:
                await market_repo.sync_instruments(
                    session, exchange, fetched.instruments.values(), result.started_ms
                )
            cycle = Cycle(
                exchange=exchange,
                started_ms=result.started_ms,
                finished_ms=result.finished_ms,
                status=result.status,
                symbols_attempted=result.symbols_attempted,
                symbols_fetched=result.symbols_fetched,
                symbols_failed=len(result.failed),
                weight_used=result.weight_used,
                history_calls=result.history_calls,
                errors=_summarise_errors(result.failed, result.held),
            )
            session.add(cycle)
            await session.flush()
            result.cycle_id = cycle.id
            head = (cycle.id,)
            await bulk.insert_ignore_many(
                session, ScoreSnapshot, SNAPSHOT_COLUMNS, [head + row for row in snapshots]
            )
            await bulk.insert_ignore_many(session, OiSample, SAMPLE_COLUMNS, samples)
            await hourly_repo.upsert_cycle(session, result)
            if self._in_cycle_transaction is not None:
                result.events_created = await self._in_cycle_transaction(session, result)
                cycle.events_created = result.events_created
        self._synced_universe = frozenset(fetched.instruments)
        # Only now are the backfilled points stored: after a rolled-back write the next
        # cycle must ask again, not wait BACKFILL_RETRY_MS with no windows.
        for symbol in backfilled:
            self._backfill_tried[symbol] = result.started_ms
        if result.started_ms - self._last_prune_ms >= PRUNE_EVERY_MS:
            await self._prune(result.started_ms)

    async def _prune(self, now_ms: int) -> None:
        """Delete what is past retention (bot/cycle/retention.py)."""
        await retention.prune(self._sessions, self._settings, now_ms)
        self._last_prune_ms = now_ms


# The table's own column order (cycle_id first), so the driver takes the tuples as built.
SNAPSHOT_COLUMNS = (
    "cycle_id",
    "exchange",
    "symbol",
    "ts_ms",
    "score",
    "band",
    "bias",
    "regime",
    "oi_contracts",
    "oi_1h_pct",
    "oi_4h_pct",
    "oi_24h_pct",
    "funding_pct",
    "funding_interval_hours",
    "funding_8h_pct",
    "mark_price",
    "index_price",
    "basis_pct",
    "oi_build",
    "funding_st",
    "basis_st",
    "bias_value",
    "funding_pctl_90d",
    "oi_24h_pctl_90d",
    "basis_pctl_90d",
)
SAMPLE_COLUMNS = ("exchange", "symbol", "ts_ms", "contracts", "source")


def snapshot_values(result: CycleResult) -> list[tuple[object, ...]]:
    """One tuple per scored symbol: SNAPSHOT_COLUMNS without the cycle id, which the
    cycle's row gets only inside the transaction. Plain tuples, not dicts or ORM
    objects: building those cost as much CPU as SQLite's own insert (bench/storage.py)."""
    ts_ms = result.started_ms
    rows: list[tuple[object, ...]] = []
    for s in result.scores:
        sc = s.score
        rows.append(
            (
                s.exchange,
                s.symbol,
                ts_ms,
                sc.score,
                sc.band.value,
                sc.bias.value,
                sc.regime.value,
                s.oi_contracts,
                s.oi_1h_pct,
                s.oi_4h_pct,
                s.oi_24h_pct,
                s.funding_pct,
                s.funding_interval_hours,
                sc.funding_8h_pct,
                s.mark_price,
                s.index_price,
                s.basis_pct,
                sc.oi_build,
                sc.funding_st,
                sc.basis_st,
                sc.bias_value,
                s.funding_pctl_90d,
                s.oi_24h_pctl_90d,
                s.basis_pctl_90d,
            )
        )
    return rows


def _sample_rows(
    exchange: str, fetched: _Fetched, hist: dict[str, list[OiPoint]]
) -> list[tuple[object, ...]]:
    """SAMPLE_COLUMNS per OI sample: this cycle's live reading and any backfilled points."""
    rows: list[tuple[object, ...]] = [
        (exchange, s, oi.time_ms, oi.contracts, "live") for s, oi in fetched.oi.items()
    ]
    for symbol, points in hist.items():
        rows.extend((exchange, symbol, p.time_ms, p.contracts, "hist") for p in points)
    return rows


def _summarise_errors(
    failed: dict[str, str], held: dict[str, str] | None = None, limit: int = 20
) -> str | None:
    first = sorted(failed.items(), key=lambda f: (STALE not in f[1], f[0]))  # /status reads it
    lines = [f"{s}: {r}" for s, r in first[:limit]]
    if len(failed) > limit:
        lines.append(f"... and {len(failed) - limit} more")
    if held:
        lines.append(f"{len(held)} symbol(s) held: OI history unavailable, windows unknown")
    return "\n".join(lines) or None
