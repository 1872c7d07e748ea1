"""The evaluation machinery on synthetic hours: a planted signal is found (lift's
interval above 1), the same number of hours picked at random finds nothing (interval
covering 1), the implied direction is measured, and the CLI writes the contract
(`--evaluate --json`, `--events-out`)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from bot.replay.data import HOUR_MS, parse_time
from bot.replay.evaluate import Signal, episode_signal, evaluate
from bot.replay.ranks import fresh_entries, trailing_ranks
from bot.replay.run import ScoredHour
from bot.scoring.formula import ScoreInputs, compute_score
from tests.replay.test_replay_cli import config, data, replay  # noqa: F401

T0 = parse_time("2024-01-01")
SYMBOLS = ("AAAUSDT", "BBBUSDT", "CCCUSDT", "DDDUSDT")
DAYS = 120
INPUTS = ScoreInputs(1.0, 2.0, 3.0, 0.01, 8, 0.0)
SCORE = compute_score(INPUTS)


def hours(planted: set[tuple[str, int]], rng: random.Random) -> list[ScoredHour]:
    """Calm random hours (excursions mostly under 5%); after a planted hour the next
    24 hours fall 6-10%: a known signal with a known direction (down)."""
    out = []
    for i in range(DAYS * 24):
        for symbol in SYMBOLS:
            big = (symbol, i) in planted
            up = rng.uniform(0, 6)
            down = rng.uniform(6, 10) if big else rng.uniform(0, 6)
            out.append(
                ScoredHour(
                    symbol=symbol,
                    ts_ms=T0 + i * HOUR_MS,
                    score=SCORE,
                    inputs=INPUTS,
                    mark=100.0,
                    index=100.0,
                    raw_basis_pct=0.0,
                    oi=1000.0,
                    fwd_4h=rng.gauss(0, 1) * (3 if big else 1),
                    fwd_24h=-down if big else rng.gauss(0, 3),
                    up_24h=up,
                    down_24h=down,
                    back_24h=rng.gauss(0, 3),
                )
            )
    return out


def planted_signal(scored: list[ScoredHour], picks: set[tuple[str, int]]) -> Signal:
    rows = [k for k, h in enumerate(scored) if (h.symbol, (h.ts_ms - T0) // HOUR_MS) in picks]
    return Signal("planted", "rule", rows, [-1] * len(rows), list(range(len(rows))))


def run(scored: list[ScoredHour], signal: Signal) -> dict[str, object]:
    ev = evaluate(scored, [signal], {"all": lambda t: True})
    rows = ev["periods"]["all"]["signals"]
    assert rows[0]["name"] == "all hours" and rows[0]["p_big_lift"] == 1.0
    result: dict[str, object] = rows[1]
    return result


def picks(rng: random.Random, n: int) -> set[tuple[str, int]]:
    # At most one a symbol-day, so events do not share a unit's future.
    days = rng.sample(range(DAYS * len(SYMBOLS)), n)
    return {(SYMBOLS[d % len(SYMBOLS)], (d // len(SYMBOLS)) * 24 + rng.randrange(24)) for d in days}


def test_a_planted_signal_is_found() -> None:
    rng = random.Random(1)
    chosen = picks(rng, 120)
    scored = hours(chosen, rng)
    row = run(scored, planted_signal(scored, chosen))
    assert row["n"] == 120
    assert row["pushes_per_symbol_day"] == round(120 / (DAYS * len(SYMBOLS)), 3)
    lo, _ = row["p_big_lift_ci"]  # type: ignore[misc]
    assert lo > 1.5, row  # every planted hour moves >= 6%, vs ~30% of all hours
    assert row["p90_24h_lift_ci"][0] > 1.0  # type: ignore[index]
    assert row["implied_minus_opposite"] > 0.3  # type: ignore[operator]  # 1 vs about 0.5
    assert row["implied_minus_opposite_ci"][0] > 0  # type: ignore[index]


def test_random_hours_find_nothing() -> None:
    # A 90% interval misses 1 in 10 by design: over 20 random picks on data with no
    # signal, each metric's interval covers 1 (or 0 for the direction) in most of them.
    rng = random.Random(2)
    scored = hours(set(), rng)
    keys = ("p_big_lift_ci", "p90_24h_lift_ci", "p50_4h_lift_ci", "implied_minus_opposite_ci")
    covered = dict.fromkeys(keys, 0)
    for _ in range(20):
        row = run(scored, planted_signal(scored, picks(rng, 120)))
        for key in keys:
            lo, hi = row[key]  # type: ignore[misc]
            null = 0.0 if key.startswith("implied") else 1.0
            covered[key] += lo <= null <= hi
    assert all(count >= 15 for count in covered.values()), covered


def test_shuffling_the_planted_signal_away_finds_nothing() -> None:
    # The planted moves stay in the data; the signal's hours are shuffled to others.
    rng = random.Random(3)
    chosen = picks(rng, 120)
    scored = hours(chosen, rng)
    others = picks(rng, 120) - chosen
    row = run(scored, planted_signal(scored, others))
    lo, hi = row["p_big_lift_ci"]  # type: ignore[misc]
    assert lo <= 1.0 <= hi, row


def test_the_evaluation_is_reproducible() -> None:
    rng = random.Random(4)
    chosen = picks(rng, 50)
    scored = hours(chosen, rng)
    assert run(scored, planted_signal(scored, chosen)) == run(
        scored, planted_signal(scored, chosen)
    )


def test_trailing_ranks_and_episodes() -> None:
    ranks = trailing_ranks([1.0, 2.0, None, 3.0, 0.5, 2.5], window=3, min_history=2)
    # The value at t is ranked among the (up to 3) known values before it.
    assert ranks == [None, None, None, 1.0, 0.0, 2 / 3]
    flags = [True, True, False, True, False, False, True]
    times = [0, 1, 2, 3, 4, 5, 6]
    entries = fresh_entries(flags, times, rearm_ms=2)
    assert entries == [True, False, False, False, False, False, True]


def test_episodes_fire_once_per_run_of_a_condition() -> None:
    rng = random.Random(5)
    scored = [h for h in hours(set(), rng) if h.symbol == "AAAUSDT"][:100]
    signal = episode_signal("x", "baseline", scored, lambda i: (10 <= i < 20 or i >= 60, 0))
    assert [(scored[r].ts_ms - T0) // HOUR_MS for r in signal.rows] == [10, 60]


def test_cli_evaluate_json_and_events_out(
    config: str,  # noqa: F811
    data: str,  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    events = tmp_path / "pushes.jsonl"
    args = ("--evaluate", "--json", "--split", "2025-01-01T06:00", "--events-out", str(events))
    assert replay(config, data, *args) == 0
    evaluation = json.loads(capsys.readouterr().out)
    assert set(evaluation["periods"]) == {"fit", "verify"}
    names = [s["name"] for s in evaluation["periods"]["fit"]["signals"]]
    assert names[0] == "all hours" and "OI 24h top decile" in names
    lines = [json.loads(line) for line in events.read_text().splitlines()]
    assert lines, "the small file has pushes (tests/replay/test_replay_cli.py)"
    for line in lines:
        assert list(line) == ["ts", "symbol", "kind", "from", "to", "score", "bias", "regime"]
        assert line["kind"] in ("band", "squeeze") and line["ts"].endswith(":00:00Z")


def test_cli_events_out_unwritable_is_one_line(
    config: str,  # noqa: F811
    data: str,  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert replay(config, data, "--events-out", str(tmp_path / "no" / "such" / "dir.jsonl")) == 2
    err = capsys.readouterr().err
    assert err.startswith("pressurebot: --events-out: cannot write") and err.count("\n") == 1


def test_cli_markdown_out_replaces_only_the_generated_block(
    config: str,  # noqa: F811
    data: str,  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    doc = tmp_path / "scoring.md"
    begin, end = "<!-- evidence:begin (generated: make evidence) -->", "<!-- evidence:end -->"
    doc.write_text(f"# Title\n\n{begin}\nold tables\n{end}\n\nafter\n")
    args = ("--evaluate", "--split", "2025-01-01T06:00", "--markdown-out", str(doc))
    assert replay(config, data, *args) == 0
    text = doc.read_text()
    assert text.startswith(f"# Title\n\n{begin}\n\nGenerated by `pressurebot replay --evaluate")
    assert "old tables" not in text and "| all hours |" in text
    assert text.endswith(f"{end}\n\nafter\n")
    capsys.readouterr()
    doc.write_text("no markers here\n")
    assert replay(config, data, *args) == 2
    err = capsys.readouterr().err
    assert "no '<!-- evidence:begin" in err and err.count("\n") == 1
