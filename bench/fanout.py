"""P3 fan-out benchmark (README, Performance): one busy cycle's alert events fanned out to 100k
subscriptions of 20k chats, computed AND written, in a temp-file SQLite DB.

    PYTHONPATH=. .venv/bin/python bench/fanout.py [--chats N] [--subs N] [--no-naive]

Beside it, the naive way on an identical copy of the DB: one subscription query per
event, one cooldown query and one INSERT per delivery. Both must write the same rows.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.alerts import fanout as fo
from bot.alerts import types as dom
from bot.alerts.transitions import run_cycle
from bot.config import DatabaseSettings, Settings
from bot.cycle import alert_hook as svc
from bot.cycle.alert_hook import AlertEngine
from bot.scoring.formula import Band, Bias, Regime, Score, band_for
from bot.scoring.result import CycleResult, SymbolScore
from bot.storage import alert_repo, catchup_repo, cooldown_repo
from bot.storage.db import create_engine, migrate, session_factory
from bot.storage.models import AlertEvent, Chat, Cycle, Delivery, Subscription

EXCHANGE = "binance"
T0 = 1_767_268_800_000  # 2026-01-01T12:00:00Z
MIN = 60_000
N_SYMBOLS = 600


def band_or_none(value: str | None) -> Band | None:
    return Band(value) if value else None


def score(value: int, regime: Regime = Regime.NET_LONG) -> Score:
    return Score(value, band_for(value), Bias.LONG, regime, 0.01, 0.0, 0.0, 0.0, 0.0, 0.5)


def cycle_result(cycle_id: int, ts: int, values: dict[str, tuple[int, Regime]]) -> CycleResult:
    rows = [
        SymbolScore(EXCHANGE, s, score(v, r), 1.0, 0.0, 0.0, 0.0, 0.01, 8, 1.0, 1.0, 0.0)
        for s, (v, r) in values.items()
    ]
    return CycleResult(cycle_id, EXCHANGE, ts - 5000, ts, len(rows), rows)


async def add_cycle(
    session: AsyncSession, ts: int, values: dict[str, tuple[int, Regime]]
) -> CycleResult:
    row = Cycle(
        exchange=EXCHANGE,
        started_ms=ts - 5000,
        finished_ms=ts,
        status="ok",
        symbols_attempted=len(values),
        symbols_fetched=len(values),
        symbols_failed=0,
    )
    session.add(row)
    await session.flush()
    return cycle_result(row.id, ts, values)


def populate_rows(
    rng: random.Random, n_chats: int, n_subs: int, symbols: list[str]
) -> tuple[list[dict], list[dict]]:
    chats = []
    for cid in range(1, n_chats + 1):
        r = rng.random()
        chats.append(
            {
                "id": cid,
                "type": "private",
                "created_ms": T0,
                "active": rng.random() > 0.02,
                "min_band": "lean" if r < 0.05 else "stressed" if r < 0.15 else "stretched",
                "direction": "up" if rng.random() < 0.1 else "both",
                "quiet_start_min": 22 * 60 if rng.random() < 0.1 else None,
                "quiet_end_min": 14 * 60,  # with a start: quiet 22:00-14:00, i.e. now (12:00)
                "muted_until_ms": T0 + 60 * MIN if rng.random() < 0.05 else None,
            }
        )
    # Popularity is Zipf-like: BTC-like symbols carry far more subscriptions than the tail.
    weights = [1 / (i + 1) for i in range(len(symbols))]
    n_market = n_subs // 25  # 4%: half bands (>= stressed), half squeeze
    subs: set[tuple[int, str, str]] = set()
    for i in range(n_market):
        subs.add((rng.randint(1, n_chats), dom.MARKET, "bands" if i % 2 else "squeeze"))
    while len(subs) < n_subs:
        sym = rng.choices(symbols, weights)[0]
        subs.add((rng.randint(1, n_chats), sym, "bands" if rng.random() < 0.7 else "squeeze"))
    sub_rows = [
        {"chat_id": c, "exchange": EXCHANGE, "symbol": s, "kind": k, "created_ms": T0}
        for c, s, k in sorted(subs)
    ]
    return chats, sub_rows


def busy_cycle(rng: random.Random, symbols: list[str]) -> tuple[dict, dict, dict]:
    """Three cycles: first sighting, a warm-up with moves (cooldowns to hit), a busy one."""
    base = {s: (rng.randint(15, 33), Regime.NET_LONG) for s in symbols}
    warm = dict(base)
    for s in rng.sample(symbols, 30):
        warm[s] = (rng.randint(40, 55), Regime.NET_LONG)
    busy = dict(warm)
    movers = rng.sample(symbols, 60)  # 10% of the universe changes band
    for s in movers[:10]:
        busy[s] = (rng.randint(65, 90), Regime.LONG_CROWDED)
    for s in movers[10:]:
        busy[s] = (rng.randint(40, 55) if warm[s][0] < 35 else rng.randint(5, 12), Regime.NET_LONG)
    for s in rng.sample(symbols, 6):
        busy[s] = (busy[s][0], Regime.LONG_SQUEEZE)
    # Make sure the most popular symbols are in it: that is where fan-out is widest.
    busy[symbols[0]] = (80, Regime.LONG_SQUEEZE)
    busy[symbols[1]] = (70, Regime.LONG_CROWDED)
    return base, warm, busy


class Timer:
    def __init__(self) -> None:
        self.spent: dict[str, float] = {}

    def wrap(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        if inspect.iscoroutinefunction(fn):

            async def timed_async(*a: Any, **kw: Any) -> Any:
                t = time.perf_counter()
                try:
                    return await fn(*a, **kw)
                finally:
                    self.spent[name] = self.spent.get(name, 0.0) + time.perf_counter() - t

            return timed_async

        def timed(*a: Any, **kw: Any) -> Any:
            t = time.perf_counter()
            try:
                return fn(*a, **kw)
            finally:
                self.spent[name] = self.spent.get(name, 0.0) + time.perf_counter() - t

        return timed


async def naive_on_cycle(session: AsyncSession, engine: AlertEngine, cycle: CycleResult) -> int:
    """Same state and events; fan-out the N+1 way."""
    states, stored = await alert_repo.load_states(session, EXCHANGE)
    out = run_cycle(
        states,
        [(s.symbol, s.score) for s in cycle.scores],
        cycle_id=cycle.cycle_id,
        now_ms=cycle.finished_ms,
        rules=engine.rules,
    )
    await alert_repo.save_states(session, EXCHANGE, out.states, stored)
    created = await alert_repo.insert_events(
        session, EXCHANGE, cycle.cycle_id, cycle.finished_ms, out.events
    )
    now, rules = cycle.finished_ms, engine.fanout_rules
    for event_id, event in created:
        rows = (
            await session.execute(
                select(Subscription, Chat)
                .join(Chat, Chat.id == Subscription.chat_id)
                .where(
                    Subscription.exchange == EXCHANGE,
                    or_(Subscription.symbol == event.symbol, Subscription.symbol == dom.MARKET),
                )
            )
        ).all()
        done: set[int] = set()
        for sub, chat in rows:
            prefs = dom.ChatPrefs(
                chat.id,
                chat.active,
                band_or_none(chat.min_band),
                chat.direction == "up",
                chat.cooldown_minutes,
                chat.quiet_start_min,
                chat.quiet_end_min,
                chat.muted_until_ms,
            )
            s = dom.Sub(
                sub.chat_id,
                sub.symbol,
                dom.SubKind(sub.kind),
                band_or_none(sub.min_band),
            )
            if chat.id in done or not chat.active or not fo.matches(event, s, prefs, rules):
                continue
            done.add(chat.id)
            found = (
                await session.execute(
                    select(Delivery.created_ms, AlertEvent.direction, AlertEvent.to_regime)
                    .join(AlertEvent, AlertEvent.id == Delivery.event_id)
                    .where(
                        Delivery.chat_id == chat.id,
                        AlertEvent.symbol == event.symbol,
                        AlertEvent.kind == event.kind.value,
                        Delivery.status.in_(["pending", "sent"]),
                    )
                    .order_by(Delivery.created_ms.desc())
                    .limit(1)
                )
            ).first()
            last = (
                None
                if found is None
                else dom.LastAlert(
                    found[0], dom.transition_sig(event.kind.value, found[1], found[2])
                )
            )
            sig = dom.transition_sig(event.kind, event.direction, event.to_regime)
            reason = fo.suppression(prefs, last, now, rules, sig)
            await session.execute(
                insert(Delivery).values(
                    event_id=event_id,
                    chat_id=chat.id,
                    cycle_id=cycle.cycle_id,
                    status="pending" if reason is None else "suppressed",
                    reason=reason.value if reason else None,
                    attempts=0,
                    created_ms=now,
                    next_attempt_ms=now,
                )
            )
    return len(created)


async def delivery_set(path: Path, cycle_id: int) -> set[tuple]:
    engine = create_engine(DatabaseSettings(url=f"sqlite+aiosqlite:///{path}"))
    async with session_factory(engine)() as session:
        rows = (
            await session.execute(
                select(
                    AlertEvent.symbol,
                    AlertEvent.kind,
                    Delivery.chat_id,
                    Delivery.status,
                    Delivery.reason,
                )
                .join(AlertEvent, AlertEvent.id == Delivery.event_id)
                .where(Delivery.cycle_id == cycle_id)
            )
        ).all()
    await engine.dispose()
    return {tuple(r) for r in rows}


async def run_one(
    path: Path, cycle_values: dict, hook: Callable[..., Any]
) -> tuple[float, float, int, int]:
    """(seconds in the hook, seconds to commit, events, cycle id) for one cycle."""
    engine = create_engine(DatabaseSettings(url=f"sqlite+aiosqlite:///{path}"))
    async with session_factory(engine)() as session:
        async with session.begin():
            cycle = await add_cycle(session, T0 + 10 * MIN, cycle_values)
            t = time.perf_counter()
            n = await hook(session, cycle)
            hook_s = time.perf_counter() - t
            t = time.perf_counter()
        commit_s = time.perf_counter() - t
    await engine.dispose()
    return hook_s, commit_s, n, cycle.cycle_id


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--chats", type=int, default=20_000)
    ap.add_argument("--subs", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=5, help="runs of the batched cycle")
    ap.add_argument("--no-naive", action="store_true")
    args = ap.parse_args()
    rng = random.Random(42)
    symbols = [f"SYM{i:03d}USDT" for i in range(N_SYMBOLS)]
    tmp = Path(tempfile.mkdtemp(prefix="pb-fanout-"))
    before = tmp / "before.db"
    alerts = AlertEngine(Settings(exchange={"venues": ["binance"]}))
    try:
        busy = await _prepare(before, rng, symbols, args, alerts)
        med, fast_rows = await _run_batched(tmp, before, busy, args.repeat, alerts)
        if not args.no_naive:
            await _run_naive(tmp, before, busy, alerts, med, fast_rows)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


async def _prepare(
    before: Path,
    rng: random.Random,
    symbols: list[str],
    args: argparse.Namespace,
    alerts: AlertEngine,
) -> dict:
    """Phase 1: the shared starting database (chats, subscriptions, two earlier cycles);
    returns the busy cycle's values, which every run then applies to a copy of it."""
    engine = create_engine(DatabaseSettings(url=f"sqlite+aiosqlite:///{before}"))
    await migrate(engine)
    chats, subs = populate_rows(rng, args.chats, args.subs, symbols)
    base, warm, busy = busy_cycle(rng, symbols)
    async with session_factory(engine)() as session, session.begin():
        await session.execute(insert(Chat), chats)
        await session.execute(insert(Subscription), subs)
    for minute, values in ((0, base), (5, warm)):
        async with session_factory(engine)() as session, session.begin():
            await alerts.in_cycle_transaction(
                session, await add_cycle(session, T0 + minute * MIN, values)
            )
    await engine.dispose()  # checkpoints the WAL: the file alone is the whole DB
    market = sum(s["symbol"] == dom.MARKET for s in subs)
    print(
        f"setup: {N_SYMBOLS} symbols, {len(chats)} chats, {len(subs)} subscriptions "
        f"({market} market-wide), SQLite {sqlite3.sqlite_version}"
    )
    return busy


def _install_timer() -> Timer:
    """Times each query and the pure steps of in_cycle_transaction by patching the module attributes
    the engine calls through (the bench process only)."""
    timer = Timer()
    for module, name in (
        (alert_repo, "load_states"),
        (alert_repo, "save_states"),
        (alert_repo, "insert_events"),
        (alert_repo, "subscriptions_for"),
        (cooldown_repo, "last_alert_times"),
        (cooldown_repo, "day_pushes"),
        (catchup_repo, "held_chats"),
        (alert_repo, "insert_deliveries"),
        (catchup_repo, "mark_held"),
    ):
        setattr(module, name, timer.wrap(name, getattr(module, name)))
    svc.plan_deliveries = timer.wrap("plan_deliveries", fo.plan_deliveries)
    svc.run_cycle = timer.wrap("engine.run_cycle", svc.run_cycle)
    return timer


async def _run_batched(
    tmp: Path, before: Path, busy: dict, repeat: int, alerts: AlertEngine
) -> tuple[float, set[tuple]]:
    """Phase 2: the live in_cycle_transaction, `repeat` times; returns its median seconds and the
    delivery rows of the last run (the naive run must produce the same)."""
    timer = _install_timer()
    runs: list[tuple[float, float, dict[str, float]]] = []
    for i in range(max(1, repeat)):  # each run on a fresh copy of the same DB
        db = tmp / f"run{i}.db"
        shutil.copy(before, db)
        timer.spent = {}
        hook_s, commit_s, n_events, cycle_id = await run_one(db, busy, alerts.in_cycle_transaction)
        runs.append((hook_s, commit_s, timer.spent))
    fast_rows = await delivery_set(db, cycle_id)
    pending = sum(r[3] == "pending" for r in fast_rows)
    print(
        f"busy cycle: {n_events} events (10% of symbols change band, incl. the most "
        f"subscribed) -> {len(fast_rows)} deliveries ({pending} pending, "
        f"{len(fast_rows) - pending} suppressed)"
    )
    hooks = sorted(r[0] for r in runs)
    med = statistics.median(hooks)
    print(
        f"batched  in_cycle_transaction (state + events + fan-out, compute + write): median "
        f"{med * 1000:.0f} ms, min {hooks[0] * 1000:.0f}, max {hooks[-1] * 1000:.0f} "
        f"over {len(runs)} runs; commit {statistics.median(r[1] for r in runs) * 1000:.0f} ms"
        f"   [target < 1000 ms]"
    )
    for name in runs[0][2]:
        spent = statistics.median(r[2][name] for r in runs)
        print(f"    {name:<20} {spent * 1000:7.1f} ms (median)")
    return med, fast_rows


async def _run_naive(
    tmp: Path,
    before: Path,
    busy: dict,
    alerts: AlertEngine,
    med: float,
    fast_rows: set[tuple],
) -> None:
    """Phase 3: the naive peer on its own copy, compared with the batched median."""
    naive_db = tmp / "naive.db"
    shutil.copy(before, naive_db)
    n_hook_s, n_commit_s, _, n_cycle = await run_one(
        naive_db, busy, lambda s, c: naive_on_cycle(s, alerts, c)
    )
    naive_rows = await delivery_set(naive_db, n_cycle)
    same = "same rows" if naive_rows == fast_rows else "ROWS DIFFER"
    print(
        f"naive    in_cycle_transaction (subscription query per event, cooldown query + INSERT "
        f"per delivery): {n_hook_s * 1000:.0f} ms; commit {n_commit_s * 1000:.0f} ms"
        f" ({same})"
    )
    print(f"ratio naive/batched: {n_hook_s / med:.0f}x")


if __name__ == "__main__":
    asyncio.run(main())
