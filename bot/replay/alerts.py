"""Drive the live alert engine (`AlertEngine.in_cycle_transaction`) over scored history.

Each recorded hour is one cycle, in time order, with its own `Cycle` row inserted before
`in_cycle_transaction` sees it, on a temporary SQLite database migrated like the live one. Symbols
listed at that hour (between their first and last scored hour) without a score are the
cycle's `failed` symbols: they keep their state, and a cycle that fetched less than
`alerts.min_fetched_share` emits nothing, exactly as live.

One simulated default subscriber: a chat created as the bot creates chats on first
contact (min band `alerts.default_min_band`, direction both, no quiet hours, the default
cooldown, no daily cap), subscribed to `alerts.default_kinds` on every replayed symbol
(`bands`; squeeze alerts are opt-in). The events of every kind are recorded whatever
the subscriber follows, so `--evaluate` still measures squeeze alerts. Its delivery
rows are the pushes (`pending`) and the withheld ones (`suppressed`, with the reason).

Between days, what live does between cycles: the outbox worker sends the pending rows (the
cooldown counts pending and sent alike) and the scorer prunes events past retention.
One transaction per simulated day: the engine reads its state back inside the
transaction, so commit boundaries change nothing but speed.

Speed. A cycle with events costs the engine about ten statements, ~2 ms on a small
machine, and the shipped file (data/) has ~35k hourly cycles. Two things bring a whole-file
replay near a minute on two cores: connections without aiosqlite's worker thread
(`sqlite_inline`), and splitting the timeline into contiguous chunks run in parallel
processes. A chunk after the first starts `WARMUP_CYCLES` early, fresh, and its
warm-up output is dropped. Its result is used only if, at the seam, its engine state
equals the previous chunk's final state and their records over the last `CHECK_CYCLES`
of the warm-up are identical: the engine is deterministic, so from then on it produces
exactly what one sequential run would. Otherwise, or if a worker fails, the replay
falls back to one sequential run (`AlertLog.fallback`). A cooldown of `CHECK_CYCLES`
hours or more also means one sequential run.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import pickle
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from bot.alerts.types import SymbolState
from bot.config import DatabaseSettings, Settings
from bot.cycle.alert_hook import AlertEngine
from bot.replay.big_result import run_for_result
from bot.replay.data import HOUR_MS
from bot.replay.planned_cycles import EXCHANGE, PlannedCycle
from bot.replay.sqlite_inline import create_inline_engine
from bot.storage import alert_repo, chat_repo, market_repo, outbox_repo
from bot.storage.db import create_engine, migrate, session_factory
from bot.storage.models import AlertEvent, Cycle, Delivery

logger = logging.getLogger(__name__)

SUBSCRIBER_CHAT_ID = 1
PENDING = "pending"
CYCLES_PER_TRANSACTION = 24  # one simulated day
PRUNE_EVERY_DAYS = 7
DAY_MS = 24 * HOUR_MS
WARMUP_CYCLES = 7 * 24
CHECK_CYCLES = 3 * 24
MIN_CYCLES_PER_CHUNK = 2000  # below this, a process costs more than it saves


@dataclass(frozen=True, slots=True)
class AlertRecord:
    """One alert event, and what the default subscriber got for it."""

    ts_ms: int
    symbol: str
    kind: str  # band | squeeze
    direction: str  # up/down | enter/exit
    from_band: str | None
    to_band: str | None
    from_regime: str | None
    to_regime: str | None
    delivery: str | None  # pending (a push) | suppressed | None (not for this subscriber)
    reason: str | None  # why suppressed
    score: int = 0  # the event's score, bias and regime at that cycle
    bias: str = ""
    regime: str = ""


@dataclass(slots=True)
class AlertLog:
    records: list[AlertRecord] = field(default_factory=list)
    cycles: int = 0
    partial_cycles: int = 0  # fetched share below the minimum: no alerts, no state change
    seconds: float = 0.0
    workers: int = 1
    fallback: bool = False  # a seam check failed; the result is one sequential run


class WorkerError(Exception):
    """A worker process failed; the replay then runs sequentially."""


@dataclass(slots=True)
class _ChunkResult:
    records: list[tuple[int, AlertRecord]]  # (cycle id, record)
    partial_cycles: int
    state_at_seam: dict[str, SymbolState] | None  # after the cycle `seam_id`
    final_state: dict[str, SymbolState]


async def replay_alerts(
    settings: Settings,
    cycles: Sequence[PlannedCycle],
    *,
    workers: int | None = None,
    inline_db: bool = True,
) -> AlertLog:
    """Run the engine over planned cycles. `workers` (default: CPUs, at most 2) is how
    many contiguous chunks run at once; `inline_db=False` uses the stock engine
    (`bot.storage.db.create_engine`). Either way the records are the same."""
    started = time.perf_counter()
    symbols = sorted({s.symbol for _, c in cycles for s in c.scores})
    chunks = _chunks(len(cycles), workers, settings)
    log = AlertLog(cycles=len(cycles), workers=len(chunks))
    result: _ChunkResult | None = None
    if len(chunks) > 1:
        result = await _run_parallel(settings, cycles, symbols, chunks, inline_db)
        if result is None:
            log.fallback, log.workers = True, 1
    if result is None:
        result = await _run_chunk(settings, cycles, symbols, None, inline_db)
    log.records = [r for _, r in result.records]
    log.partial_cycles = result.partial_cycles
    log.seconds = time.perf_counter() - started
    return log


def _chunks(n: int, workers: int | None, settings: Settings) -> list[tuple[int, int]]:
    workers = workers if workers is not None else min(2, os.cpu_count() or 1)
    cooldown_cycles = -(-settings.alerts.cooldown_minutes * 60_000 // HOUR_MS)
    if cooldown_cycles >= CHECK_CYCLES:  # the seam check would not cover the cooldown
        workers = 1
    workers = max(1, min(workers, n // MIN_CYCLES_PER_CHUNK))
    bounds = [n * k // workers for k in range(workers + 1)]
    return list(itertools.pairwise(bounds))


async def _run_parallel(
    settings: Settings,
    cycles: Sequence[PlannedCycle],
    symbols: list[str],
    chunks: list[tuple[int, int]],
    inline_db: bool,
) -> _ChunkResult | None:
    """First chunk here, the others in worker processes; None if a seam check or a
    worker fails (the caller then replays sequentially)."""
    with tempfile.TemporaryDirectory(prefix="pressurebot-replay-") as tmp:
        workers = []
        for k, (start, end) in enumerate(chunks[1:]):
            part = cycles[max(0, start - WARMUP_CYCLES) : end]
            job = (settings, part, symbols, start, inline_db)
            workers.append(await _Worker.start(Path(tmp) / f"chunk{k}", job))
        try:
            # The inline database never yields to the event loop, so the workers are
            # started first and collected afterwards; they talk through files.
            first = await _run_chunk(settings, cycles[: chunks[0][1]], symbols, None, inline_db)
            others = [await w.result() for w in workers]
        except WorkerError as exc:
            logger.warning("%s; replaying sequentially instead", exc)
            return None
        finally:
            for w in workers:
                await w.stop()
    merged = _ChunkResult(list(first.records), first.partial_cycles, None, first.final_state)
    prev = first
    for (start, _), chunk in zip(chunks[1:], others, strict=True):
        seam_records = [(i, r) for i, r in chunk.records if i <= start]
        prev_tail = [(i, r) for i, r in prev.records if i > start - CHECK_CYCLES]
        tail = [(i, r) for i, r in seam_records if i > start - CHECK_CYCLES]
        if not _same_state(prev.final_state, chunk.state_at_seam) or prev_tail != tail:
            return None
        merged.records.extend((i, r) for i, r in chunk.records if i > start)
        merged.partial_cycles += chunk.partial_cycles
        prev = chunk
    return merged


class _Worker:
    """One chunk in a fresh interpreter (`python -m bot.replay.worker IN OUT`): no fork
    of a process running an event loop, no re-import of the caller's __main__."""

    def __init__(self, proc: asyncio.subprocess.Process, base: Path) -> None:
        self.proc, self.base = proc, base

    @classmethod
    async def start(cls, base: Path, job: tuple[Any, ...]) -> _Worker:
        env = _write_job(base, job)
        with base.with_suffix(".err").open("wb") as err:
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot.replay.worker",
                str(base.with_suffix(".in")),
                str(base.with_suffix(".out")),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=err,
                env=env,
            )
        return cls(proc, base)

    async def result(self) -> _ChunkResult:
        return _read_result(self.base, await self.proc.wait())

    async def stop(self) -> None:
        if self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()


def _write_job(base: Path, job: tuple[Any, ...]) -> dict[str, str]:
    """Write the pickled job; return the worker's environment (this checkout first)."""
    base.with_suffix(".in").write_bytes(pickle.dumps(job, protocol=5))
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    return env


def _read_result(base: Path, code: int) -> _ChunkResult:
    if code != 0:
        lines = base.with_suffix(".err").read_text(errors="replace").splitlines()
        raise WorkerError(f"replay worker failed ({code}): {(lines or ['?'])[-1]}")
    result: _ChunkResult = pickle.loads(base.with_suffix(".out").read_bytes())
    return result


def child_main(job_path: str, result_path: str) -> None:
    """The worker process: one chunk, warm-up included; see the module docstring."""
    settings, part, symbols, start, inline_db = pickle.loads(Path(job_path).read_bytes())
    logging.getLogger("bot.alerts").setLevel(logging.ERROR)  # partial cycles are counted
    result = run_for_result(_run_chunk(settings, part, symbols, start, inline_db))
    # Partial cycles in the warm-up belong to the previous chunk.
    result.partial_cycles = sum(
        1
        for _, c in part
        if c.cycle_id > start and c.fetched_share < settings.alerts.min_fetched_share
    )
    Path(result_path).write_bytes(pickle.dumps(result, protocol=5))


def _same_state(a: dict[str, SymbolState], b: dict[str, SymbolState] | None) -> bool:
    """Equal in everything the engine decides on (the *_since_ms times are only shown)."""
    if b is None or a.keys() != b.keys():
        return False
    return all(
        replace(a[s], band_since_ms=0, regime_since_ms=0)
        == replace(b[s], band_since_ms=0, regime_since_ms=0)
        for s in a
    )


async def _run_chunk(
    settings: Settings,
    cycles: Sequence[PlannedCycle],
    symbols: list[str],
    seam_id: int | None,
    inline_db: bool,
) -> _ChunkResult:
    with tempfile.TemporaryDirectory(prefix="pressurebot-replay-") as tmp:
        path = Path(tmp) / "replay.db"
        if inline_db:
            engine = create_inline_engine(path)
        else:
            engine = create_engine(DatabaseSettings(url=f"sqlite+aiosqlite:///{path}"))
        try:
            await migrate(engine)
            return await _drive(settings, engine, cycles, symbols, seam_id)
        finally:
            await engine.dispose()


async def _drive(
    settings: Settings,
    engine: AsyncEngine,
    cycles: Sequence[PlannedCycle],
    symbols: list[str],
    seam_id: int | None,
) -> _ChunkResult:
    sessions = session_factory(engine)
    alerts = AlertEngine(settings, log_events=False)
    t0 = cycles[0][1].finished_ms if cycles else 0
    async with sessions() as session, session.begin():
        await chat_repo.upsert_chat(
            session, SUBSCRIBER_CHAT_ID, "private", "replay", t0, settings.alerts.default_min_band
        )
        # The replay measures the engine's alert rate per symbol; the per-chat daily cap
        # (docs/alerts.md) is a delivery limit on top of it, so the subscriber has none.
        await chat_repo.update_chat_settings(session, SUBSCRIBER_CHAT_ID, daily_cap=0)
        for symbol in symbols:
            await chat_repo.subscribe(
                session,
                SUBSCRIBER_CHAT_ID,
                EXCHANGE,
                symbol,
                settings.alerts.default_kinds,
                t0,
                cap=len(symbols),
            )

    out = _ChunkResult([], 0, None, {})
    retention_ms = settings.alerts.event_retention_days * DAY_MS
    async with sessions() as session:
        for day, start in enumerate(range(0, len(cycles), CYCLES_PER_TRANSACTION)):
            batch = cycles[start : start + CYCLES_PER_TRANSACTION]
            async with session.begin():
                await session.execute(insert(Cycle), [row for row, _ in batch])
                for _, cycle in batch:
                    if cycle.fetched_share < alerts.min_fetched_share:
                        out.partial_cycles += 1
                    await alerts.in_cycle_transaction(session, cycle)
                    if cycle.cycle_id == seam_id:
                        out.state_at_seam = (await alert_repo.load_states(session, EXCHANGE))[0]
                first, last = batch[0][1], batch[-1][1]
                records, pushed = await _read_back(session, first.cycle_id, last.cycle_id)
                out.records.extend(records)
                await outbox_repo.mark_sent(session, pushed, last.finished_ms)
                if day % PRUNE_EVERY_DAYS == PRUNE_EVERY_DAYS - 1:
                    cutoff = last.finished_ms - retention_ms
                    await market_repo.prune(
                        session,
                        oi_before_ms=cutoff,
                        snapshots_before_ms=cutoff,
                        events_before_ms=cutoff,
                    )
        async with session.begin():
            out.final_state = (await alert_repo.load_states(session, EXCHANGE))[0]
    return out


async def _read_back(
    session: AsyncSession, first_cycle: int, last_cycle: int
) -> tuple[list[tuple[int, AlertRecord]], list[int]]:
    """Events of cycles first..last with the subscriber's delivery for each, and the ids
    of the pending deliveries (the pushes)."""
    stmt = (
        select(
            AlertEvent.cycle_id,
            Cycle.finished_ms,
            AlertEvent.symbol,
            AlertEvent.kind,
            AlertEvent.direction,
            AlertEvent.from_band,
            AlertEvent.to_band,
            AlertEvent.from_regime,
            AlertEvent.to_regime,
            Delivery.status,
            Delivery.reason,
            AlertEvent.score,
            AlertEvent.bias,
            AlertEvent.regime,
            Delivery.id,
        )
        .join(Cycle, Cycle.id == AlertEvent.cycle_id)
        .outerjoin(
            Delivery,
            (Delivery.event_id == AlertEvent.id) & (Delivery.chat_id == SUBSCRIBER_CHAT_ID),
        )
        .where(
            AlertEvent.exchange == EXCHANGE,
            AlertEvent.cycle_id >= first_cycle,
            AlertEvent.cycle_id <= last_cycle,
        )
        .order_by(AlertEvent.cycle_id, AlertEvent.symbol, AlertEvent.kind)
    )
    records: list[tuple[int, AlertRecord]] = []
    pushed: list[int] = []
    for cycle_id, *fields, delivery_id in (await session.execute(stmt)).all():
        record = AlertRecord(*fields)
        records.append((cycle_id, record))
        if record.delivery == PENDING:
            pushed.append(delivery_id)
    return records, pushed
