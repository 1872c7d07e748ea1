"""OI windows span their hours at any cadence (1-60 min), with exchange-stamped samples.

Live samples carry the exchange's `time`, a little after the local cycle start. The
sample taken exactly one hour ago must anchor the 1h window, not the one before it.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator

import pytest

from bot.config import Settings
from bot.cycle.run import Scorer
from bot.markets.binance import BinanceAdapter
from bot.markets.binance import make_client as binance_client
from bot.scoring.windows import HOUR_MS, anchor, tolerance_for, windows
from fakes.fake_binance import FakeBinance

MINUTE = 60_000
TOLERANCE = 15 * MINUTE
T0 = 1_767_225_637.0  # 37 s past a 5-minute mark: cycles never sit on history marks
FIVE_MIN = 5 * MINUTE


def cycle_samples(minutes: int, seed: int) -> list[tuple[int, int]]:
    """(stamp, cycle start) for 24h + 6 intervals of a scorer running every `minutes`.

    Each cycle starts an interval after the last plus up to 50 ms of scheduling drift;
    its sample carries the exchange's time, 50-400 ms after the start.
    """
    rng = random.Random(seed)
    start, out = int(T0 * 1000), []
    t = start
    while t <= start + 24 * HOUR_MS + 6 * minutes * MINUTE:
        out.append((t + rng.randint(50, 400), t))
        t += minutes * MINUTE + rng.randint(0, 50)
    return out


@pytest.mark.parametrize("minutes", [*range(1, 61)])
def test_steady_state_windows_use_the_sample_nearest_each_target(minutes: int) -> None:
    interval = minutes * MINUTE
    cycles = cycle_samples(minutes, seed=minutes)
    stamps = [(stamp, float(stamp)) for stamp, _ in cycles]  # contracts = the stamp
    for _, now in cycles[-5:]:
        for w in windows(now, TOLERANCE, interval_ms=interval):
            got = anchor(stamps, w)
            assert got is not None, f"{w.hours}h window null at a {minutes}-min cadence"
            nearest = min((s for s, _ in stamps), key=lambda s: (abs(s - w.target_ms), s))
            assert got == nearest
            # Within half an interval of the target (plus the stamps' jitter)...
            assert abs(got - w.target_ms) <= interval / 2 + 500
            # ...and never later than the tolerance.
            assert got - w.target_ms <= tolerance_for(TOLERANCE, interval)


def test_a_sample_counts_within_the_tolerance_on_either_side() -> None:
    now = int(T0 * 1000)
    [w1, _, _] = windows(now, TOLERANCE, interval_ms=FIVE_MIN)
    target = w1.target_ms
    assert (w1.earliest_ms, w1.latest_ms) == (target - TOLERANCE, target + TOLERANCE)
    # A gap: nothing within 15 min of the target on either side.
    assert anchor([(target - 16 * MINUTE, 1.0), (target + 16 * MINUTE, 2.0)], w1) is None
    assert anchor([(target + 14 * MINUTE, 2.0)], w1) == 2.0
    assert anchor([(target - 14 * MINUTE, 1.0)], w1) == 1.0
    # The closest wins, later or not; on a tie, the earlier one.
    assert anchor([(target - 60_000, 1.0), (target + 300, 2.0)], w1) == 2.0
    assert anchor([(target - 30_000, 1.0), (target + 30_000, 2.0)], w1) == 1.0


def test_slow_cadences_widen_the_tolerance_to_half_an_interval() -> None:
    # Every 40 min, the samples nearest "1h ago" are 20 min either side of it.
    now = int(T0 * 1000)
    [w1, _, _] = windows(now, TOLERANCE, interval_ms=40 * MINUTE)
    assert w1.latest_ms - w1.target_ms == 21 * MINUTE
    assert anchor([(w1.target_ms - 20 * MINUTE, 1.0), (now - 40 * MINUTE, 2.0)], w1) == 1.0


# Through the scorer, against the fake exchange.


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def time(self) -> float:
        return self.now

    def ms(self) -> int:
        return int(self.now * 1000)


def oi_at(t_ms: float) -> float:
    """Open interest rising 100 contracts a minute: a window's % change gives its span."""
    return 1_000_000.0 + (t_ms - T0 * 1000) / MINUTE * 100.0


def span_minutes(live_ms: int, pct: float | None) -> float | None:
    """How far back the anchor of a window with change `pct` lies, in minutes."""
    if pct is None:
        return None
    base = oi_at(live_ms) / (1 + pct / 100)
    return (live_ms - (T0 * 1000 + (base - 1_000_000.0) / 100.0 * MINUTE)) / MINUTE


@pytest.fixture
async def fake() -> AsyncIterator[FakeBinance]:
    clock = Clock()
    async with FakeBinance(now_ms=clock.ms, decoys=False) as f:
        f.clock = clock  # type: ignore[attr-defined]
        start = (clock.ms() - 26 * HOUR_MS) // FIVE_MIN * FIVE_MIN
        f.add_symbol("AAAUSDT", mark=1.0, index=1.0, funding_rate=0.0001, oi=oi_at(clock.ms()))
        # The exchange's 5-minute history, as it stands at any moment of the test.
        f.set_oi_history(
            "AAAUSDT", [(t, oi_at(t)) for t in range(start, start + 30 * HOUR_MS, FIVE_MIN)]
        )
        yield f


@pytest.mark.parametrize("minutes", [5, 15, 20, 60])
async def test_windows_span_their_hours_at_any_cadence(
    fake: FakeBinance, sessions, minutes: int
) -> None:
    clock: Clock = fake.clock  # type: ignore[attr-defined]
    settings = Settings(
        exchange={"venues": ["binance"], "base_url": fake.url},  # type: ignore[arg-type]
        scorer={"interval_seconds": minutes * 60},  # type: ignore[arg-type]
    )

    async def no_sleep(_: float) -> None:
        return None

    rng = random.Random(minutes)
    async with binance_client(settings.exchange, sleep=no_sleep) as client:
        adapter = BinanceAdapter(client, settings.exchange, clock=clock.time)
        scorer = Scorer(adapter, sessions, settings, clock=clock.time)
        for k in range(60 // minutes + 2):
            # The exchange stamps its answer 50-400 ms after the cycle started.
            fake.stamp_lag_ms = rng.randint(50, 400)
            live_ms = clock.ms() + fake.stamp_lag_ms
            fake.set_market("AAAUSDT", oi=oi_at(live_ms))
            result = await scorer.run_cycle()
            [row] = result.scores
            spans = [
                span_minutes(live_ms, p) for p in (row.oi_1h_pct, row.oi_4h_pct, row.oi_24h_pct)
            ]
            assert None not in spans, f"cycle {k}: a window is null: {spans}"
            for span, hours in zip(spans, (1, 4, 24), strict=True):
                # Backfilled 5-minute marks at worst: never a whole interval too long.
                assert abs(span - 60 * hours) <= 2.5 + 0.01, (k, hours, span)
            if k * minutes >= 60:
                # Live sample to live sample: an hour to within the stamps' jitter.
                assert abs(spans[0] - 60) * MINUTE <= 400, (k, spans[0])
            if k > 0:
                assert result.history_calls == 0, f"cycle {k} backfilled again"
            clock.now += minutes * 60
