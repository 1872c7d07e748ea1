"""The cross-venue aggregate: the worked example of docs/scoring.md ("Across venues"),
and properties a trader relies on (no jumps when venues come and go)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.cycle.venues import coins_across_venues
from bot.markets.base import Instrument
from bot.scoring.aggregate import (
    VenueHealth,
    VenueSample,
    aggregate,
    basis_pct,
    funding_8h_pct,
    oi_change_pct,
    to_coins,
)


def _example(*, okx_then: float | None = 19_000.0) -> list[VenueSample]:
    """docs/scoring.md, "Across venues": BTC on three venues, all at $50,000."""
    return [
        VenueSample(
            "binance",
            oi_coins=80_000.0,
            mark_price=50_000.0,
            funding_8h_pct=funding_8h_pct(0.0001, 8),
            basis_pct=0.02,
            oi_then={"1h": 78_000.0},
        ),
        VenueSample(
            "bybit",
            oi_coins=100_000.0 / 2,  # tickers openInterest counts both sides
            mark_price=50_000.0,
            funding_8h_pct=funding_8h_pct(0.0001, 4),
            basis_pct=-0.01,
            oi_then={"1h": 101_000.0 / 2},
        ),
        VenueSample(
            "okx",
            oi_coins=2_000_000 * 0.01,  # contracts x ctVal
            mark_price=50_000.0,
            funding_8h_pct=funding_8h_pct(0.00005, 8),
            basis_pct=0.05,
            oi_then={"1h": okx_then},
        ),
    ]


def test_worked_example_from_the_docs() -> None:
    agg = aggregate("BTC", _example(), windows=("1h",))
    assert agg is not None
    assert agg.oi_coins == 150_000.0
    assert agg.oi_usd == 7.5e9
    assert agg.oi_change_pct["1h"] == pytest.approx(2_500 / 147_500 * 100)  # +1.69%
    assert agg.funding_8h_pct == pytest.approx(0.095 / 7.5)  # 0.0127% per 8h
    plain = sum(v.funding_8h_pct or 0.0 for v in agg.venues) / 3
    assert round(plain, 4) == 0.0117  # what a plain average would say
    assert agg.basis_pct == pytest.approx(0.105 / 7.5)  # +0.014%
    assert [(v.venue, round(v.share, 4)) for v in agg.venues] == [
        ("binance", 0.5333),
        ("bybit", 0.3333),
        ("okx", 0.1333),
    ]
    assert not agg.partial
    assert round(agg.oi_change_pct["1h"], 2) == 1.69
    # Bybit's both-sides figure added raw would read 200,000 BTC and a 50% share.
    raw = {"binance": 80_000.0, "bybit": 100_000.0, "okx": 20_000.0}
    assert sum(raw.values()) == 200_000 and raw["bybit"] / sum(raw.values()) == 0.5


def test_worked_example_venue_joining_within_the_window() -> None:
    agg = aggregate("BTC", _example(okx_then=None), windows=("1h",))
    assert agg is not None
    # OKX has no sample an hour ago: it is left out of both sums, not counted as growth.
    assert agg.oi_change_pct["1h"] == pytest.approx(1_500 / 128_500 * 100)  # +1.17%
    naive = (150_000 - 128_500) / 128_500 * 100  # +16.7%: the jump the rule avoids
    assert round(naive, 1) == 16.7 and round(agg.oi_change_pct["1h"], 2) == 1.17
    assert agg.oi_change_pct["1h"] < naive / 10


def test_worked_example_failed_venue_makes_it_partial() -> None:
    answered = [s for s in _example() if s.venue != "okx"]
    agg = aggregate("BTC", answered, windows=("1h",), failed=["okx"])
    assert agg is not None
    assert agg.partial and agg.missing == ("okx",)
    assert agg.oi_change_pct["1h"] == pytest.approx(1_500 / 128_500 * 100)


def test_units_helpers() -> None:
    assert funding_8h_pct(0.0001, 4) == pytest.approx(0.02)
    assert funding_8h_pct(0.0001, 1) == pytest.approx(0.08)
    assert basis_pct(50_010, 50_000) == pytest.approx(0.02)
    # 5,000,000 contracts of 1000PEPE at $0.012 = 5e9 PEPE at $0.000012.
    coins, price = to_coins(5e6, 0.012, 1000)
    assert (coins, price) == (5e9, pytest.approx(0.000012))
    assert coins * price == pytest.approx(5e6 * 0.012)


def test_coins_match_across_multiplier_contracts() -> None:
    instruments = [
        Instrument("binance", "1000PEPEUSDT", "1000PEPE", "USDT"),
        Instrument("bybit", "1000PEPEUSDT", "1000PEPE", "USDT"),
        Instrument("okx", "PEPE-USDT-SWAP", "PEPE", "USDT"),
        Instrument("binance", "BTCUSDT", "BTC", "USDT"),
        Instrument("binance", "ONLYUSDT", "ONLY", "USDT"),
        Instrument("okx", "BTC-USDT-SWAP", "BTC", "USDT"),
    ]
    grouped = coins_across_venues(instruments)
    assert sorted(grouped) == ["BTC", "PEPE"]  # ONLY is on one venue: no aggregate
    assert sorted(grouped["PEPE"]) == ["binance", "bybit", "okx"]
    assert grouped["PEPE"]["binance"][0].multiplier == 1000
    assert grouped["PEPE"]["okx"][0].multiplier == 1


def test_no_window_known_anywhere_is_unknown_not_zero() -> None:
    samples = [VenueSample("binance", 10.0, 1.0, 0.01, 0.0, {"1h": None})]
    assert oi_change_pct(samples, "1h") is None
    assert oi_change_pct(samples, "24h") is None


# Properties.

positive = st.floats(min_value=1.0, max_value=1e9, allow_nan=False, allow_infinity=False)
rate = st.floats(min_value=-0.5, max_value=0.5, allow_nan=False)


@st.composite
def samples(draw: st.DrawFn, venue: str) -> VenueSample:
    return VenueSample(
        venue,
        oi_coins=draw(positive),
        mark_price=draw(st.floats(min_value=1e-6, max_value=1e5)),
        funding_8h_pct=draw(rate),
        basis_pct=draw(rate),
        oi_then={"1h": draw(positive)},
    )


@settings(max_examples=200, deadline=None)
@given(samples("binance"))
def test_single_venue_is_that_venues_figures(s: VenueSample) -> None:
    agg = aggregate("X", [s], windows=("1h",))
    assert agg is not None
    then = s.oi_then["1h"]
    assert then is not None
    assert agg.oi_change_pct["1h"] == pytest.approx((s.oi_coins - then) / then * 100)
    assert agg.funding_8h_pct == pytest.approx(s.funding_8h_pct)
    assert agg.basis_pct == pytest.approx(s.basis_pct)
    assert agg.mark_price == pytest.approx(s.mark_price)


@settings(max_examples=200, deadline=None)
@given(samples("binance"), samples("bybit"), positive, positive)
def test_a_venue_joining_or_leaving_makes_no_jump(
    a: VenueSample, b: VenueSample, c_now: float, c_mark: float
) -> None:
    """A venue known at one end only (joined, or left) changes the OI change by nothing."""
    base = aggregate("X", [a, b], windows=("1h",))
    joined = VenueSample("okx", c_now, c_mark, 0.0, 0.0, {"1h": None})
    with_join = aggregate("X", [a, b, joined], windows=("1h",))
    assert base is not None and with_join is not None
    assert with_join.oi_change_pct["1h"] == pytest.approx(base.oi_change_pct["1h"])
    # Leaving: b drops out now, so it is known at neither end; only a counts.
    left = aggregate("X", [a], windows=("1h",))
    assert left is not None
    then = a.oi_then["1h"]
    assert then is not None
    assert left.oi_change_pct["1h"] == pytest.approx((a.oi_coins - then) / then * 100)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["binance", "bybit", "okx"]), unique=True, min_size=1), st.data())
def test_aggregate_lies_within_the_venues(venues: list[str], data: st.DataObject) -> None:
    rows = [data.draw(samples(v)) for v in venues]
    agg = aggregate("X", rows, windows=("1h",))
    assert agg is not None
    changes = [(s.oi_coins - s.oi_then["1h"]) / s.oi_then["1h"] * 100 for s in rows]  # type: ignore[operator]
    tol = 1e-9 * max(1.0, *map(abs, changes))
    assert min(changes) - tol <= agg.oi_change_pct["1h"] <= max(changes) + tol  # type: ignore[operator]
    for name in ("funding_8h_pct", "basis_pct"):
        values = [getattr(s, name) for s in rows]
        got = getattr(agg, name)
        assert min(values) - 1e-9 <= got <= max(values) + 1e-9
    assert math.isclose(sum(v.share for v in agg.venues), 1.0)


# Venue health.


def test_venue_leaves_after_n_failed_cycles_and_returns_announced_once() -> None:
    health = VenueHealth(["binance", "bybit", "okx"], drop_after=3)
    assert health.record("okx", ok=False, reason="HTTP 502") is None
    assert health.failing() == ["okx"] and health.counts("okx")
    assert health.record("okx", ok=False) is None
    line = health.record("okx", ok=False)
    assert (
        line == "okx unreachable for 3 cycles (HTTP 502); aggregates continue on the other venues"
    )
    assert not health.counts("okx") and health.failing() == []
    assert health.record("okx", ok=False) is None  # announced once
    assert health.dropped() == {"okx": "HTTP 502"}
    assert health.record("okx", ok=True) == "okx answers again; back in the cross-venue aggregates"
    assert health.counts("okx") and health.dropped() == {}
    assert health.record("okx", ok=True) is None


def test_blocked_venue_leaves_at_once() -> None:
    health = VenueHealth(["binance", "bybit"], drop_after=5)
    line = health.record("bybit", ok=False, blocked=True, reason="HTTP 403")
    assert line == "bybit refuses us (HTTP 403); aggregates continue on the other venues"
    assert not health.counts("bybit")
    assert health.counts("binance")


def test_drop_after_must_be_positive() -> None:
    with pytest.raises(ValueError):
        VenueHealth(["binance"], drop_after=0)
