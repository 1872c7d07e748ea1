"""The `ohlc-mark` format (the shipped file's): one row scores its own hour, funding
intervals other than 8h, and excursions on highs and lows across gaps."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.replay.data import FORMAT_OHLC_MARK, ReplayInputError, read_history
from bot.replay.run import BasisOptions, ScoredHour, score_history
from bot.scoring.formula import DEFAULT_PARAMS
from tests.replay.helpers import OHLC_HEADER, Bar, hour, write_bars

TOLERANCE_MS = 900_000


def scored_hours(path: Path) -> dict[int, ScoredHour]:
    history = read_history(path)
    hours, invalid = score_history(
        history, DEFAULT_PARAMS, tolerance_ms=TOLERANCE_MS, basis=BasisOptions()
    )
    assert invalid == 0
    return {(h.ts_ms - hour(0)) // 3_600_000: h for h in hours}


def test_a_row_scores_its_own_hour_with_mark_against_spot(tmp_path: Path) -> None:
    bars = [Bar(0, close=100, mark=101, spot=100, funding=0.0002, interval=4), Bar(1)]
    history = read_history(write_bars(tmp_path / "b.csv.gz", bars, gz=True))
    assert history.format == FORMAT_OHLC_MARK and history.has_ranges
    h = scored_hours(write_bars(tmp_path / "b.csv", bars))[0]
    assert h.mark == 101 and h.index == 100
    assert h.raw_basis_pct == pytest.approx(1.0)  # no smoothing: the mark is smoothed
    assert h.inputs.funding_interval_hours == 4
    assert h.score.funding_8h_pct == pytest.approx(0.04)  # 0.02% per 4h


def test_excursions_use_highs_and_lows_of_the_next_24_hours(tmp_path: Path) -> None:
    # Hour 0 closes at 100; hour 3 spikes to 107 and hour 20 dips to 96; hour 25's
    # low of 80 is outside the window. Hour 10 is missing (a gap, never filled).
    bars = [Bar(i, close=100 + (i == 24)) for i in range(30) if i != 10]
    bars[3] = Bar(3, high=107)
    bars[19] = Bar(20, low=96)
    bars[24] = Bar(25, low=80)
    h = scored_hours(write_bars(tmp_path / "b.csv", bars))
    assert h[0].up_24h == pytest.approx(7.0)
    assert h[0].down_24h == pytest.approx(4.0)
    assert h[0].fwd_24h == pytest.approx(1.0)  # close to close, not the extremes
    assert h[0].fwd_4h == pytest.approx(0.0)
    assert h[24].back_24h == pytest.approx(1.0)
    assert h[9].fwd_24h is None  # ends at hour 33: not recorded
    assert h[9].up_24h is None and h[9].down_24h is None


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("2025-01-01T01:00:00Z,AAAUSDT,1,0.5,0.9,1,1,1,0,8,1,", "high 0.5 is below low 0.9"),
        ("2025-01-01T01:00:00Z,AAAUSDT,1,1,1,1,1,1,0,0,1,", "bad funding_interval_h 0.0"),
        ("2025-01-01T01:00:00Z,AAAUSDT,1,1,1,x,1,1,0,8,1,", "bad close 'x'"),
    ],
)
def test_bad_rows_are_one_line(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(f"{OHLC_HEADER}\n{line}\n")
    with pytest.raises(ReplayInputError, match=message):
        read_history(path)


def test_a_header_near_the_ohlc_format_names_what_is_missing(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(OHLC_HEADER.replace(",mark,", ",markprice,") + "\n")
    with pytest.raises(ReplayInputError, match="unknown column 'markprice'; missing column 'mark'"):
        read_history(path)


def test_an_empty_spot_is_a_missing_hour_and_the_optional_column_may_be_empty(
    tmp_path: Path,
) -> None:
    path = write_bars(tmp_path / "b.csv", [Bar(0), Bar(1), Bar(2)])
    text = path.read_text().splitlines()
    parts = text[2].split(",")
    parts[7] = ""  # hour 1's spot
    text[2] = ",".join(parts)
    path.write_text("\n".join(text) + "\n")
    history = read_history(path)
    assert history.skipped_empty == 1
    assert [r.ts_ms for r in history.rows["AAAUSDT"]] == [hour(0), hour(2)]
