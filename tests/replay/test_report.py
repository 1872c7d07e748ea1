"""Report arithmetic on hand-made hours and alert records: every figure by hand."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from bot.replay.alerts import AlertRecord
from bot.replay.summary import build_report, move_stats, quantile, render_text, signed_stats
from bot.scoring.formula import Band, Bias, Regime, Score
from tests.replay.helpers import hour


def score(band: Band, regime: Regime = Regime.NET_LONG) -> Score:
    value = {Band.NEUTRAL: 5, Band.LEAN: 20, Band.STRETCHED: 40, Band.STRESSED: 70}[band]
    return Score(value, band, Bias.LONG, regime, 0.01, 0.0, 0.0, 0.0, 0.0, 0.5)


@dataclass
class H:
    ts_ms: int
    score: Score
    fwd_4h: float | None
    fwd_24h: float | None
    symbol: str = "AAAUSDT"


def rec(
    i: int,
    kind: str,
    direction: str,
    to_band: str | None = None,
    delivery: str | None = None,
    reason: str | None = None,
) -> AlertRecord:
    return AlertRecord(
        hour(i), "AAAUSDT", kind, direction, None, to_band, None, None, delivery, reason
    )


def test_quantile_interpolates_linearly_between_order_statistics() -> None:
    assert quantile([3.0, 1.0, 2.0], 0.5) == 2.0
    assert quantile([1.0, 2.0, 3.0], 0.9) == pytest.approx(2.8)  # position 1.8
    assert quantile([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0], 0.9) == 10.0
    assert quantile([4.0], 0.9) == 4.0
    assert quantile([], 0.5) is None


def test_move_stats_use_absolute_moves_and_skip_missing_ones() -> None:
    hours = [
        H(0, score(Band.NEUTRAL), 0.5, 1.0),
        H(1, score(Band.NEUTRAL), -1.5, -2.0),
        H(2, score(Band.NEUTRAL), None, 3.0),
        H(3, score(Band.NEUTRAL), 2.0, None),
    ]
    assert move_stats(hours) == {
        "hours": 4,
        "n_4h": 3,
        "median_4h": 1.5,  # |0.5|, |-1.5|, |2.0|
        "p90_4h": 1.9,  # 1.5 + 0.8 * (2.0 - 1.5)
        "n_24h": 3,
        "median_24h": 2.0,
        "p90_24h": 2.8,
    }
    assert signed_stats(hours) == {
        "n_24h": 3,
        "mean_24h": 0.667,
        "median_24h": 1.0,
        "up_share_24h": 0.667,
    }


def test_period_tables_and_rates_by_hand() -> None:
    # 48 hours (2 symbol-days): 24 neutral, 12 lean, 12 stressed; no stretched hour.
    hours = (
        [H(hour(i), score(Band.NEUTRAL), 1.0, 2.0) for i in range(24)]
        + [H(hour(24 + i), score(Band.LEAN, Regime.NET_SHORT), -1.0, -4.0) for i in range(12)]
        + [H(hour(36 + i), score(Band.STRESSED, Regime.LONG_CROWDED), 3.0, 10.0) for i in range(12)]
    )
    records = [
        rec(24, "band", "up", "lean"),  # not for the default subscriber (min stretched)
        rec(36, "band", "up", "stressed", "pending"),
        rec(36, "squeeze", "enter", None, "pending"),  # same cycle: one digest
        rec(40, "squeeze", "exit", None, "pending"),
        rec(41, "squeeze", "enter", None, "suppressed", "cooldown"),
    ]
    report = build_report(hours, records, split_ms=hour(24))
    everything = report["periods"]["all"]
    assert everything["hours"] == 48 and everything["symbol_days"] == 2.0
    bands = {b["band"]: b for b in everything["bands"]}
    assert [bands[b]["share"] for b in ("neutral", "lean", "stretched", "stressed")] == [
        0.5,
        0.25,
        0.0,
        0.25,
    ]
    assert bands["lean"]["median_24h"] == 4.0 and bands["stressed"]["p90_24h"] == 10.0
    assert bands["stretched"]["median_24h"] is None and bands["stretched"]["hours"] == 0
    regimes = {r["regime"]: r for r in everything["regimes"]}
    assert (
        regimes["Long crowded"]["share"] == 0.25
        and regimes["Net short bias building"]["median_4h"] == 1.0
    )
    assert everything["all_hours"]["median_24h"] == 3.0  # 24 x 2, 12 x 4, 12 x 10
    a = everything["alerts"]
    assert a["band_changes_per_symbol_day"] == 1.0  # 2 band events / 2 symbol-days
    assert a["into_stressed_per_symbol_day"] == 0.5
    assert a["squeeze_entries_per_symbol_day"] == 1.0  # 2 entries (one suppressed)
    assert a["pushes_per_symbol_day"] == 1.5  # 3 pending
    assert a["pushes_by_kind_per_symbol_day"] == {
        "band up": 0.5,
        "squeeze enter": 0.5,
        "squeeze exit": 0.5,
    }
    assert a["suppressed_per_symbol_day"] == {"cooldown": 0.5}
    assert a["max_pushes_in_one_symbol_day"] == 3  # all on 2025-01-02
    assert a["digests_per_subscriber_day"] == 1.0  # 2 push cycles over 48 cycle hours
    assert a["pushes_per_day_by_symbol"] == {"AAAUSDT": 1.5}
    fit, verify = report["periods"]["fit"], report["periods"]["verify"]
    assert (fit["hours"], verify["hours"]) == (24, 24)
    assert fit["alerts"]["pushes_per_symbol_day"] == 0.0
    assert verify["alerts"]["pushes_per_symbol_day"] == 3.0  # 3 pushes in 1 symbol-day
    text = render_text(report)
    assert "== verify: 2025-01-02T00:00Z .. 2025-01-02T23:00Z" in text
    assert "pushes per symbol-day (default subscriber): 3.0" in text
