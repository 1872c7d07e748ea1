"""Reading recorded history: column mapping, gaps, and one-line errors for bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.replay.data import ReplayInputError, parse_time, read_history
from tests.replay.helpers import Rec, hour, write_csv


def test_reads_plain_and_gzip_the_same(tmp_path: Path) -> None:
    recs = [Rec(0, funding=0.00025, oi=12.5), Rec(1, "BBBUSDT", close=2.0, index=2.5)]
    plain = read_history(write_csv(tmp_path / "a.csv", recs))
    gz = read_history(write_csv(tmp_path / "a.csv.gz", recs, gz=True))
    assert plain == gz
    row = plain.rows["AAAUSDT"][0]
    assert (row.ts_ms, row.perp_close, row.index_price, row.open_interest) == (
        hour(0),
        100.0,
        100.0,
        12.5,
    )
    assert row.funding_pct == pytest.approx(0.025)  # fraction per 8h -> percent per 8h
    assert sorted(plain.rows) == ["AAAUSDT", "BBBUSDT"]


def test_rows_are_sorted_and_gaps_are_kept_as_gaps(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "a.csv", [Rec(3), Rec(0), Rec(1)])
    rows = read_history(path).rows["AAAUSDT"]
    assert [r.ts_ms for r in rows] == [hour(0), hour(1), hour(3)]


def test_filters_symbols_and_half_open_time_range(tmp_path: Path) -> None:
    recs = [Rec(i, s) for i in range(5) for s in ("AAAUSDT", "BBBUSDT")]
    path = write_csv(tmp_path / "a.csv", recs)
    h = read_history(path, symbols=["BBBUSDT"], start_ms=hour(1), end_ms=hour(3))
    assert list(h.rows) == ["BBBUSDT"]
    assert [r.ts_ms for r in h.rows["BBBUSDT"]] == [hour(1), hour(2)]


def test_a_row_with_an_empty_field_is_a_missing_hour(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "a.csv", [Rec(0), Rec(1)])
    path.write_text(path.read_text() + "2025-01-01T02:00:00Z,AAAUSDT,100,,0.0001,1000\n")
    h = read_history(path)
    assert h.skipped_empty == 1 and h.row_count == 2


@pytest.mark.parametrize(
    ("header", "line", "message"),
    [
        ("ts,symbol,perp_close,index_price,funding,open_interest", None, "unknown column"),
        ("ts,symbol,perp_close,index_price,funding_8h", None, "missing column 'open_interest'"),
        (None, "yesterday,AAAUSDT,1,1,0,1", "line 3: bad ts 'yesterday'"),
        (None, "2025-01-01T05:00:00Z,AAAUSDT,abc,1,0,1", "bad perp_close 'abc'"),
        (None, "2025-01-01T05:00:00Z,AAAUSDT,nan,1,0,1", "bad perp_close 'nan'"),
        (None, "2025-01-01T00:00:00Z,AAAUSDT,1,1,0,1", "duplicate row for AAAUSDT"),
        (None, "2025-01-01T05:00:00Z,AAAUSDT,1,1,0", "expected 6 fields"),
    ],
)
def test_bad_input_is_one_line(
    tmp_path: Path, header: str | None, line: str | None, message: str
) -> None:
    path = write_csv(tmp_path / "a.csv", [Rec(0)], header=header)
    if line is not None:
        path.write_text(path.read_text() + line + "\n")
    with pytest.raises(ReplayInputError, match=message) as err:
        read_history(path)
    assert "\n" not in str(err.value)


def test_missing_and_empty_files(tmp_path: Path) -> None:
    with pytest.raises(ReplayInputError, match="data file not found"):
        read_history(tmp_path / "nope.csv")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(ReplayInputError, match="is empty"):
        read_history(tmp_path / "empty.csv")
    (tmp_path / "bad.gz").write_bytes(b"\x1f\x8bnot really gzip")
    with pytest.raises(ReplayInputError, match="cannot read"):
        read_history(tmp_path / "bad.gz")


def test_parse_time_accepts_dates_and_utc_datetimes() -> None:
    assert parse_time("2025-01-01") == hour(0)
    assert parse_time("2025-01-01T01:00Z") == hour(1)
    assert parse_time("2025-01-01T03:00:00+02:00") == hour(1)
    with pytest.raises(ValueError):
        parse_time("March 1st")
