"""The symbol's own percentile: the live cut points and the replay's full window give
the same number, and the number means what the docs say."""

from __future__ import annotations

from bisect import bisect_left, bisect_right

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.scoring.percentile import (
    HOUR_MS,
    MIN_HISTORY_HOURS,
    cut_points,
    from_counts,
    from_window,
    percentile_of,
    trailing_percentiles,
)

# Few distinct values, so ties (BNB's funding sits at exactly 0 half the time) are common.
values = st.lists(
    st.integers(min_value=-5, max_value=5).map(lambda i: i / 4),
    min_size=MIN_HISTORY_HOURS,
    max_size=MIN_HISTORY_HOURS + 400,
)


@settings(max_examples=60, deadline=None)
@given(values, st.integers(min_value=-6, max_value=6).map(lambda i: i / 4 + 0.1 * (i % 2)))
def test_cut_points_give_the_full_window_percentile(window: list[float], v: float) -> None:
    ordered = sorted(window)
    n = len(ordered)
    below, at_or_below = bisect_left(ordered, v), bisect_right(ordered, v)
    expected = (from_counts(below, n) + from_counts(at_or_below, n)) // 2
    assert percentile_of(v, cut_points(ordered)) == expected == from_window(v, ordered)


def test_top_five_percent_means_at_least_95_percent_below() -> None:
    ordered = [float(i) for i in range(1000)]
    cuts = cut_points(ordered)
    assert percentile_of(950.0, cuts) == 95  # 950 of 1000 strictly below
    assert percentile_of(949.0, cuts) == 94
    assert percentile_of(2000.0, cuts) == 100
    assert percentile_of(-1.0, cuts) == 0
    assert percentile_of(None, cuts) is None
    assert percentile_of(float("nan"), cuts) is None


def test_ties_count_half() -> None:
    """Half the window at exactly the value (BNB's funding at the base rate): the
    middle, not its bottom or top."""
    window = sorted([0.0] * 500 + [float(i + 1) for i in range(500)])
    assert percentile_of(0.0, cut_points(window)) == 25  # (0 below + 50 at or below) / 2
    assert percentile_of(-1.0, cut_points(window)) == 0


def test_too_little_history_is_unknown() -> None:
    assert cut_points([1.0] * (MIN_HISTORY_HOURS - 1)) is None
    assert percentile_of(1.0, None) is None


def test_trailing_window_is_the_90_days_before_the_hour() -> None:
    hours = 100 * 24
    points: list[tuple[int, float | None]] = [(h * HOUR_MS, float(h)) for h in range(hours)]
    out = trailing_percentiles(points)
    assert out[MIN_HISTORY_HOURS - 1] is None
    assert out[MIN_HISTORY_HOURS] == 100  # rising series: every earlier value is below
    # A gap (None) is neither ranked nor counted.
    gappy = trailing_percentiles([(0, None), *points[1:]])
    assert gappy[0] is None and gappy[MIN_HISTORY_HOURS] is None
    # After 90 days the oldest hours leave the window: a value equal to hour 5's is
    # then above none of the remaining ones only once hours 0..5 have left.
    late = 95 * 24
    probe = trailing_percentiles([*points[:late], (late * HOUR_MS, 5.0)])[-1]
    window = [float(h) for h in range(late - 90 * 24, late)]
    assert probe == from_counts(bisect_left(window, 5.0), len(window)) == 0


def test_replay_and_live_agree_hour_by_hour() -> None:
    """Each hour's percentile from the replay's running window equals bisecting the cut
    points of the same window, as the live scorer does."""
    series = [((h * 37) % 101) / 10 for h in range(60 * 24)]
    points: list[tuple[int, float | None]] = [(h * HOUR_MS, v) for h, v in enumerate(series)]
    replayed = trailing_percentiles(points)
    for h in range(MIN_HISTORY_HOURS, len(series), 97):
        window = sorted(series[max(0, h - 90 * 24) : h])
        assert percentile_of(series[h], cut_points(window)) == replayed[h]
