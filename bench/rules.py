"""Rules benchmark (README, Performance): 10,000 active rules over one cycle of about
1,850 rows (three venues and the cross-venue aggregate), compiled evaluation against
the naive peer that interprets each rule on each row of its scope.

    PYTHONPATH=. .venv/bin/python bench/rules.py [--rules N] [--market-share F] [--runs N]

Rows carry every field, the liquidation ones included (some unknown, as under the
streams' coverage floor). Rules are generated as text and parsed (1-4 comparisons,
and/or/not, abs(), words, field-vs-field), with thresholds drawn at random to two
decimals, so groups share a shape but not their constants. By default 25% are
market-wide (every symbol of their venue) and the rest watch one symbol;
`--market-share 1` is the worst case. Both ways must find the same (rule, row) pairs.
Single core: numpy's element-wise work does not use threads.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.alerts.rules.compiler import Frame, RuleBook, Target, compile_condition
from bot.alerts.rules.fields import BAND_WORDS, BIAS_WORDS, REGIME_WORDS
from bot.alerts.rules.interpret import holds
from bot.alerts.rules.parser import Rule, parse_rule

VENUES = {"binance": 560, "bybit": 520, "okx": 240, "all": 530}  # 1,850 rows
RULE_VENUES = (["all"] * 12) + (["binance"] * 5) + (["bybit"] * 2) + ["okx"]
NUMERIC = {
    "score": (0, 100),
    "oi_1h": (-3, 3),
    "oi_4h": (-8, 8),
    "oi_24h": (-20, 20),
    "funding_8h": (-0.05, 0.08),
    "funding": (-0.05, 0.08),
    "basis": (-0.3, 0.3),
    "liq_1h_oi_pct": (0, 1),
    "liq_1h_x_normal": (0, 10),
    "liq_15m_long_oi_pct": (0, 0.5),
}
PERCENT_PAIRS = (("oi_1h", "oi_4h"), ("oi_4h", "oi_24h"), ("funding_8h", "basis"))


def make_rows(rng: random.Random) -> list[tuple[str, str, dict[str, float | None]]]:
    rows = []
    for venue, n in VENUES.items():
        for i in range(n):
            score = rng.randint(0, 100)
            rows.append(
                (
                    venue,
                    f"C{i:04d}USDT",
                    {
                        "score": float(score),
                        "band": float(min(3, score // 25)),
                        "bias": float(rng.randint(0, 2)),
                        "regime": float(rng.randint(0, len(REGIME_WORDS) - 1)),
                        "oi_1h": None if rng.random() < 0.05 else rng.gauss(0, 1.5),
                        "oi_4h": None if rng.random() < 0.05 else rng.gauss(0, 3),
                        "oi_24h": None if rng.random() < 0.08 else rng.gauss(0, 8),
                        "funding": rng.gauss(0.01, 0.02),
                        "funding_8h": rng.gauss(0.01, 0.02),
                        "funding_interval": rng.choice((8.0, 8.0, 4.0)),
                        "basis": rng.gauss(0, 0.1),
                        **liq_row(rng),
                    },
                )
            )
    return rows


def liq_row(rng: random.Random) -> dict[str, float | None]:
    """The liquidation fields as the cycle gives them: unknown under the coverage floor
    (here 10% of rows), the multiple also unknown without 24 covered hours (10% more)."""
    if rng.random() < 0.1:
        return {"liq_coverage_1h": rng.uniform(0, 0.9)}
    oi_usd = rng.uniform(1e6, 1e9)
    pct = rng.expovariate(4.0)  # % of OI liquidated over 1h, mean 0.25
    long_share, quarter = rng.random(), rng.random()  # the longs' part; the last 15 min's
    return {
        "liq_1h_long_usd": oi_usd * pct / 100 * long_share,
        "liq_1h_short_usd": oi_usd * pct / 100 * (1 - long_share),
        "liq_1h_oi_pct": pct,
        "liq_1h_x_normal": None if rng.random() < 0.1 else rng.expovariate(0.5),
        "liq_coverage_1h": 1.0,
        "liq_15m_long_oi_pct": pct * long_share * quarter,
        "liq_15m_short_oi_pct": pct * (1 - long_share) * quarter,
    }


def comparison(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.1:
        return f"band {rng.choice(['>=', '>', '==', '<'])} {rng.choice(BAND_WORDS)}"
    if roll < 0.15:
        return f"bias {rng.choice(['==', '!='])} {rng.choice(BIAS_WORDS)}"
    if roll < 0.2:
        return f"regime == {rng.choice(REGIME_WORDS)}"
    if roll < 0.25:
        a, b = rng.choice(PERCENT_PAIRS)
        return f"{a} {rng.choice(['>', '<'])} {b}"
    name, (lo, hi) = rng.choice(list(NUMERIC.items()))
    value = round(rng.uniform(lo, hi), 2)
    left = f"abs({name})" if rng.random() < 0.1 and name != "score" else name
    return f"{left} {rng.choice(['>', '>=', '<', '<='])} {value}"


def rule_text(rng: random.Random) -> str:
    parts = [comparison(rng) for _ in range(rng.choice((1, 2, 2, 3, 3, 4)))]
    text = parts[0]
    for part in parts[1:]:
        text += f" {rng.choice(('and', 'and', 'and', 'or'))} {part}"
    if rng.random() < 0.1:
        text = f"not ({text})"
    return text


def make_rules(rng: random.Random, n: int, market_share: float) -> list[tuple[Rule, Target]]:
    out = []
    for _ in range(n):
        venue = rng.choice(RULE_VENUES)
        symbol = None if rng.random() < market_share else f"C{rng.randrange(240):04d}USDT"
        out.append((parse_rule(rule_text(rng)), Target(venue, symbol)))
    return out


def naive(rules: list[tuple[Rule, Target]], rows: list) -> set[tuple[int, int]]:
    """Each rule interpreted on each row of its scope."""
    ordered = sorted(rows, key=lambda r: (r[0], r[1]))
    by_venue: dict[str, list[int]] = {}
    at: dict[tuple[str, str], int] = {}
    for j, (venue, symbol, _) in enumerate(ordered):
        by_venue.setdefault(venue, []).append(j)
        at[(venue, symbol)] = j
    found = set()
    for pos, (rule, target) in enumerate(rules):
        if target.symbol is None:
            scope = by_venue.get(target.exchange, [])
        else:
            j = at.get((target.exchange, target.symbol))
            scope = [] if j is None else [j]
        for j in scope:
            if holds(rule.condition, ordered[j][2]):
                found.add((pos, j))
    return found


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rules", type=int, default=10_000)
    ap.add_argument("--market-share", type=float, default=0.25)
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    rng = random.Random(20)
    rows = make_rows(rng)
    rules = make_rules(rng, args.rules, args.market_share)

    started = time.perf_counter()
    book = RuleBook([compile_condition(r.condition) for r, _ in rules], [t for _, t in rules])
    compile_ms = (time.perf_counter() - started) * 1000

    timings = []
    for _ in range(args.runs):
        started = time.perf_counter()
        frame = Frame.build(rows)
        found_rules, found_rows = book.hits(frame)
        timings.append((time.perf_counter() - started) * 1000)
    ours = statistics.median(timings)
    ours_set = set(zip(found_rules.tolist(), found_rows.tolist(), strict=True))

    started = time.perf_counter()
    expected = naive(rules, rows)
    naive_ms = (time.perf_counter() - started) * 1000
    if ours_set != expected:
        raise SystemExit(f"MISMATCH: compiled {len(ours_set)} hits, naive {len(expected)}")

    market = sum(t.symbol is None for _, t in rules)
    print(
        f"rules: {len(rules)} ({market} market-wide, {len(book._groups)} shape groups) over "
        f"{sum(VENUES.values())} rows; {len(expected)} (rule, row) hits, identical both ways"
    )
    print(f"  compile once     {compile_ms:8.1f} ms")
    print(
        f"  ours per cycle   {ours:8.1f} ms  (median of {args.runs}, frame build included;"
        f" min {min(timings):.1f}, max {max(timings):.1f})  target <= 100 ms"
    )
    print(f"  naive per cycle  {naive_ms:8.1f} ms  (one run)")
    print(f"  ratio            {naive_ms / ours:8.1f}x")


if __name__ == "__main__":
    main()
