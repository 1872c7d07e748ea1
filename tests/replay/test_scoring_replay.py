"""Scoring recorded hours: time alignment, OI windows across a gap, basis smoothing and
forward moves, each checked by hand on a 31-hour synthetic series with hour 6 missing."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.replay.data import read_history
from bot.replay.run import BasisOptions, ScoredHour, score_history
from bot.scoring.formula import DEFAULT_PARAMS, ScoreInputs, compute_score
from tests.replay.helpers import Rec, hour, index_for_basis, write_csv

TOLERANCE_MS = 900_000
GAP = 6


def close(i: int) -> float:
    return 100.0 + i


def series() -> list[Rec]:
    """close(i) = 100+i; the basis at hour i is 0.1*i percent (index(i) is set against
    close(i-1)); funding 0.03%/8h; OI 1000, then 1100 from hour 20; no row at hour 6."""
    recs = []
    for i in range(31):
        if i == GAP:
            continue
        index = 100.0 if i == 0 else index_for_basis(close(i - 1), 0.1 * i)
        recs.append(
            Rec(i, close=close(i), index=index, funding=0.0003, oi=1000 if i < 20 else 1100)
        )
    return recs


@pytest.fixture
def scored(tmp_path: Path) -> dict[int, ScoredHour]:
    history = read_history(write_csv(tmp_path / "s.csv", series()))
    hours, invalid = score_history(
        history, DEFAULT_PARAMS, tolerance_ms=TOLERANCE_MS, basis=BasisOptions(smooth_hours=4)
    )
    assert invalid == 0
    return {(h.ts_ms - hour(0)) // 3_600_000: h for h in hours}


def test_an_hour_needs_its_row_and_the_previous_close(scored: dict[int, ScoredHour]) -> None:
    # Hour 0 has no earlier close; hour 6 has no row; hour 7 has no close at 7:00 (row 6).
    assert sorted(scored) == [i for i in range(1, 31) if i not in (0, GAP, GAP + 1)]


def test_mark_is_the_previous_close_and_basis_is_against_this_index(
    scored: dict[int, ScoredHour],
) -> None:
    h = scored[5]
    assert h.mark == close(4)
    assert h.raw_basis_pct == pytest.approx(0.5)


def test_basis_is_the_mean_of_the_last_hours_that_exist(scored: dict[int, ScoredHour]) -> None:
    assert scored[1].inputs.basis_pct == pytest.approx(0.1)  # only itself
    assert scored[3].inputs.basis_pct == pytest.approx((0.3 + 0.2 + 0.1) / 3)
    assert scored[12].inputs.basis_pct == pytest.approx((1.2 + 1.1 + 1.0 + 0.9) / 4)
    # Hours 6 and 7 have no basis: the window at 9 holds 9 and 8 only.
    assert scored[9].inputs.basis_pct == pytest.approx((0.9 + 0.8) / 2)


def test_oi_windows_use_exact_hours_and_a_gap_gives_null(scored: dict[int, ScoredHour]) -> None:
    assert (scored[8].inputs.oi_1h, scored[8].inputs.oi_4h, scored[8].inputs.oi_24h) == (0, 0, None)
    assert scored[10].inputs.oi_4h is None  # 4h back is hour 6: the gap
    h20 = scored[20].inputs
    assert (h20.oi_1h, h20.oi_4h, h20.oi_24h) == (pytest.approx(10), pytest.approx(10), None)
    h24 = scored[24].inputs
    assert (h24.oi_1h, h24.oi_4h, h24.oi_24h) == (0, 0, pytest.approx(10))
    assert scored[30].inputs.oi_24h is None  # 24h back is hour 6


def test_score_is_compute_score_of_the_mapped_inputs(scored: dict[int, ScoredHour]) -> None:
    h = scored[24]
    expected = ScoreInputs(
        oi_1h=0.0,
        oi_4h=0.0,
        oi_24h=pytest.approx(10),  # type: ignore[arg-type]
        funding_pct=pytest.approx(0.03),  # type: ignore[arg-type]
        funding_interval_hours=8,
        basis_pct=pytest.approx((2.4 + 2.3 + 2.2 + 2.1) / 4),  # type: ignore[arg-type]
    )
    assert h.inputs == expected
    assert h.score == compute_score(h.inputs, DEFAULT_PARAMS)


def test_forward_moves_need_the_exact_hour(scored: dict[int, ScoredHour]) -> None:
    # The price at hour t is close(t-1); at 2: 101, at 6: 105, at 26: 125.
    assert scored[2].fwd_4h == pytest.approx((105 / 101 - 1) * 100)
    assert scored[2].fwd_24h == pytest.approx((125 / 101 - 1) * 100)
    assert scored[3].fwd_4h is None  # the price at 7:00 is row 6's close: missing
    assert scored[27].fwd_4h == pytest.approx((130 / 126 - 1) * 100)  # the last close
    assert scored[28].fwd_4h is None and scored[10].fwd_24h is None  # past the end


def test_same_row_basis_pairs_close_and_index_of_one_row(tmp_path: Path) -> None:
    history = read_history(write_csv(tmp_path / "s.csv", series()))
    hours, _ = score_history(
        history,
        DEFAULT_PARAMS,
        tolerance_ms=TOLERANCE_MS,
        basis=BasisOptions(smooth_hours=1, same_row=True),
    )
    by_hour = {(h.ts_ms - hour(0)) // 3_600_000: h for h in hours}
    assert 0 in by_hour and GAP + 1 in by_hour  # every row is scorable on its own
    expected = (close(5) - index_for_basis(close(4), 0.5)) / index_for_basis(close(4), 0.5)
    assert by_hour[5].inputs.basis_pct == pytest.approx(expected * 100)
    assert by_hour[5].mark == close(5)
