"""The rules' share of a scoring cycle on SQLite (README, Performance): 10,000 rules of
2,000 chats (bench/rules.py's mix) on one venue of 600 symbols, whose values drift from
cycle to cycle as a market's do (a random walk), through `RuleHook.advance` and
`finish` in the cycle's transaction: evaluate, move the places, store the fires.

    PYTHONPATH=. .venv/bin/python bench/rules_cycle.py [--rules N] [--cycles N]

Market-wide rules are kept only if they hold on at most 3% of the symbols at the start
(as a user keeps a rule after `/rule test`); a rule that holds everywhere fires all
the time and is its own problem. Beside it, the naive peer reloads and recompiles every
rule every cycle (what the hook did before its signature cache). In `make bench`.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from rules import rule_text  # bench/rules.py

from bot.alerts.rules.interpret import holds
from bot.alerts.rules.parser import parse_rule
from bot.alerts.rules.rows import row_values
from bot.config import DatabaseSettings
from bot.cycle.rule_hook import RuleHook
from bot.scoring.formula import Bias, Regime, Score, band_for
from bot.scoring.result import CycleResult, SymbolScore
from bot.storage import rule_repo
from bot.storage.bulk import insert_ignore_many
from bot.storage.db import create_engine, migrate, session_factory
from bot.storage.models import Chat, Cycle, Rule

EXCHANGE = "binance"
T0 = 1_767_225_600_000
REGIMES = list(Regime)


class ReloadEveryCycle(RuleHook):
    """The naive peer: every cycle reads and compiles every rule again."""

    async def _rules(self, session, exchange):  # type: ignore[no-untyped-def]
        self._books.clear()
        return await super()._rules(session, exchange)


def row_of(s: SymbolScore) -> dict[str, float | None]:
    return row_values(s)


def drift(rng: random.Random, market: dict[str, dict[str, float]]) -> list[SymbolScore]:
    out = []
    for symbol, v in market.items():
        v["score"] = min(100, max(0, v["score"] + rng.randint(-3, 3)))
        for name, step in (("oi_1h", 0.4), ("oi_4h", 0.6), ("oi_24h", 1.0)):
            v[name] = 0.9 * v[name] + rng.gauss(0, step)
        v["funding"] = 0.95 * v["funding"] + 0.05 * 0.01 + rng.gauss(0, 0.003)
        v["basis"] = 0.9 * v["basis"] + rng.gauss(0, 0.02)
        if rng.random() < 0.05:
            v["regime"] = rng.randrange(len(REGIMES))
        score = Score(
            int(v["score"]),
            band_for(int(v["score"])),
            Bias.LONG if v["funding"] > 0.01 else Bias.SHORT,
            REGIMES[int(v["regime"])],
            v["funding"],
            0.0,
            0.0,
            0.0,
            0.0,
            0.5,
        )
        out.append(
            SymbolScore(
                EXCHANGE,
                symbol,
                score,
                1000.0,
                v["oi_1h"],
                v["oi_4h"],
                v["oi_24h"],
                v["funding"],
                8,
                100.0,
                100.0,
                v["basis"],
            )
        )
    return out


async def run(hook: RuleHook, n_rules: int, cycles: int) -> tuple[list[float], int, int]:
    rng = random.Random(7)
    engine = create_engine(DatabaseSettings(url=f"sqlite+aiosqlite:///{tempfile.mkdtemp()}/r.db"))
    await migrate(engine)
    sessions = session_factory(engine)
    symbols = [f"C{i:04d}USDT" for i in range(600)]
    market = {
        s: {
            "score": rng.randint(0, 100),
            "oi_1h": 0.0,
            "oi_4h": 0.0,
            "oi_24h": 0.0,
            "funding": 0.01,
            "basis": 0.0,
            "regime": rng.randrange(len(REGIMES)),
        }
        for s in symbols
    }
    async with sessions() as s, s.begin():
        chats = [(c, "private", True, "stretched", "both", 0) for c in range(1, 2001)]
        await insert_ignore_many(
            s, Chat, ("id", "type", "active", "min_band", "direction", "created_ms"), chats
        )
        rows = []
        start = [row_of(x) for x in drift(random.Random(1), market)]
        while len(rows) < n_rules:
            rule = parse_rule(rule_text(rng))
            symbol = None if rng.random() < 0.25 else rng.choice(symbols)
            # A market-wide rule a user keeps after /rule test: one that holds on few
            # symbols at a time (here at most 3% of them now), not one that always fires.
            holding = sum(holds(rule.condition, r) for r in start) if symbol is None else 0
            if holding > 0.03 * len(start):
                continue
            i = len(rows)
            rows.append((i % 2000 + 1, f"r{i}", EXCHANGE, symbol, str(rule.condition), 1, 0))
        cols = ("chat_id", "name", "exchange", "symbol", "condition", "for_cycles", "created_ms")
        await insert_ignore_many(s, Rule, cols, rows)
    market = {
        s: {
            "score": rng.randint(0, 100),
            "oi_1h": 0.0,
            "oi_4h": 0.0,
            "oi_24h": 0.0,
            "funding": 0.01,
            "basis": 0.0,
            "regime": rng.randrange(len(REGIMES)),
        }
        for s in symbols
    }
    timings, fires, places = [], 0, 0
    for k in range(cycles + 3):  # 3 warm-up cycles: the first fires on everything holding
        async with sessions() as s, s.begin():
            ts = T0 + k * 300_000
            row = Cycle(
                exchange=EXCHANGE,
                started_ms=ts,
                finished_ms=ts,
                status="ok",
                symbols_attempted=600,
                symbols_fetched=600,
                symbols_failed=0,
            )
            s.add(row)
            await s.flush()
            result = CycleResult(row.id, EXCHANGE, ts, ts, 600, scores=drift(rng, market))
            started = time.perf_counter()
            rc = await hook.advance(s, result)
            assert rc is not None
            await hook.finish(s, rc, [])
            if k >= 3:
                timings.append((time.perf_counter() - started) * 1000)
                fires += len(rc.fires)
                places = len(rc.after)
    async with sessions() as s:
        assert (await rule_repo.rules_signature(s, EXCHANGE))[0] == n_rules
    await engine.dispose()
    return timings, fires, places


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rules", type=int, default=10_000)
    ap.add_argument("--cycles", type=int, default=10)
    args = ap.parse_args()
    ours, fires, places = await run(RuleHook(), args.rules, args.cycles)
    naive, _, _ = await run(ReloadEveryCycle(), args.rules, args.cycles)
    o, n = statistics.median(ours), statistics.median(naive)
    print(
        f"rules in the cycle: {args.rules} rules, 600 symbols, SQLite, {args.cycles} cycles "
        f"after 3 warm-up; {fires / args.cycles:.0f} fires and {places} places per cycle"
    )
    print(f"  ours   {o:8.1f} ms median (min {min(ours):.1f}, max {max(ours):.1f})")
    print(f"  naive  {n:8.1f} ms median (rules reloaded and recompiled every cycle)")
    print(f"  ratio  {n / o:8.1f}x")


if __name__ == "__main__":
    asyncio.run(main())
