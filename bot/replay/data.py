"""Reading recorded hourly history (CSV or CSV.GZ) for `pressurebot replay`.

Expected columns, exactly these (any order; an unknown or missing column is an error):

| column          | meaning                                   | becomes                      |
|-----------------|-------------------------------------------|------------------------------|
| `ts`            | hour, UTC, ISO 8601                       | `Row.ts_ms`, epoch ms        |
| `symbol`        | e.g. `SOLUSDT`                            | `Row.symbol`                 |
| `perp_close`    | perp close of the candle that opens at ts | the perp price at ts+1h      |
| `index_price`   | index price sampled at ts                 | the index at ts              |
| `funding_8h`    | funding, fraction per 8h (0.0001 = 0.01%) | 100x: percent, interval 8h   |
| `open_interest` | open interest in contracts at ts          | contracts at ts              |

Time alignment (the one non-obvious mapping). On the shipped file
(`data/perp_hourly_5coins.csv.gz`) the close of row t and the index of row t are one hour
apart: chart candles are labelled by their opening time, the index by its sampling time.
The evidence, per symbol: the median |close_t / index_t - 1| is 0.25-0.47%, and that
same-row "basis" correlates 0.80-0.99 with the hour's own price change (it is mostly the
hour's move). Pairing the close of row t with the index of row t+1 instead gives a median
of 0.05-0.16%, 3-9x smaller than any other lag, and for SOL it correlates 0.67 with
funding (0.19 same-row). So the replay scores the instant T with, all observed at T:

    index(T)   = index_price of row T
    mark(T)    = perp_close of row T-1h       (the close at T)
    funding(T) = funding_8h of row T,  OI(T) = open_interest of row T

An hour is scored only when both rows T-1h and T exist; otherwise that symbol "failed to
fetch" that cycle, exactly as live, and keeps its alert state. `same_row=True` (CLI
`--same-row-basis`) pairs close and index of the same row instead, for comparison.

Gaps are never filled: rows are keyed by their timestamp, and every lookup (OI windows,
the previous close, forward moves) asks for an exact hour. A row with an empty field is
skipped as missing; an unparseable value, a duplicate (symbol, ts), a missing file or a
wrong header raise `ReplayInputError` with one line naming the problem.
"""

from __future__ import annotations

import csv
import gzip
import io
import math
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

HOUR_MS = 3_600_000
COLUMNS = ("ts", "symbol", "perp_close", "index_price", "funding_8h", "open_interest")
FUNDING_INTERVAL_HOURS = 8  # funding_8h is already per 8h
# The recorded history shipped with the repository (data/README.md): what
# `pressurebot replay` reads when no path is given. Found next to the source tree, so it
# works from a clone (editable install) whatever the working directory; a wheel does not
# carry it, and then the CLI asks for a path.
SHIPPED_HISTORY = Path(__file__).resolve().parents[2] / "data" / "perp_hourly_5coins.csv.gz"


class ReplayInputError(Exception):
    """Bad input for a replay, with a one-line user-readable message."""


@dataclass(frozen=True, slots=True)
class Row:
    ts_ms: int
    symbol: str
    perp_close: float
    index_price: float
    funding_8h: float  # fraction per 8h, as recorded
    open_interest: float  # contracts

    @property
    def funding_pct(self) -> float:
        """Funding in percent per interval (the interval is 8h)."""
        return self.funding_8h * 100.0


@dataclass(slots=True)
class History:
    """Rows per symbol, each list sorted by time, plus what reading skipped."""

    rows: dict[str, list[Row]]
    skipped_empty: int = 0

    @property
    def row_count(self) -> int:
        return sum(len(r) for r in self.rows.values())


def parse_time(text: str) -> int:
    """ISO 8601 date or date-time (naive means UTC) -> epoch ms. ValueError if bad."""
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def format_time(ts_ms: int) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, UTC).strftime("%Y-%m-%dT%H:%MZ")


def read_history(
    path: str | Path,
    *,
    symbols: Collection[str] | None = None,
    start_ms: int | None = None,
    end_ms: int | None = None,
) -> History:
    """Rows with start_ms <= ts < end_ms, for `symbols` (all when None)."""
    path = Path(path)
    if not path.is_file():
        raise ReplayInputError(f"data file not found: {path}")
    wanted = set(symbols) if symbols else None
    rows: dict[str, dict[int, Row]] = {}
    skipped = 0
    for line_no, record in _records(path):
        if any(not record[c].strip() for c in COLUMNS):
            skipped += 1
            continue
        try:
            ts = parse_time(record["ts"])
        except ValueError:
            raise ReplayInputError(f"{path.name} line {line_no}: bad ts {record['ts']!r}") from None
        symbol = record["symbol"].strip().upper()
        if (wanted is not None and symbol not in wanted) or not _in_range(ts, start_ms, end_ms):
            continue
        row = Row(ts, symbol, *(_number(record, c, path, line_no) for c in COLUMNS[2:]))
        per_symbol = rows.setdefault(symbol, {})
        if ts in per_symbol:
            raise ReplayInputError(
                f"{path.name} line {line_no}: duplicate row for {symbol} at {record['ts']}"
            )
        per_symbol[ts] = row
    return History({s: [r[t] for t in sorted(r)] for s, r in sorted(rows.items())}, skipped)


def _records(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    try:
        with path.open("rb") as raw:
            gzipped = raw.read(2) == b"\x1f\x8b"
        with (
            gzip.open(path, "rb") if gzipped else path.open("rb") as binary,
            io.TextIOWrapper(binary, encoding="utf-8", newline="") as text,
        ):
            reader = csv.DictReader(text)
            _check_header(path, reader.fieldnames)
            for record in reader:
                if None in record or any(record.get(c) is None for c in COLUMNS):
                    raise ReplayInputError(
                        f"{path.name} line {reader.line_num}: expected {len(COLUMNS)} fields"
                    )
                yield reader.line_num, record
    except (OSError, EOFError, UnicodeDecodeError, csv.Error) as exc:
        raise ReplayInputError(f"cannot read {path}: {exc}") from None


def _check_header(path: Path, header: Sequence[str] | None) -> None:
    if not header:
        raise ReplayInputError(f"{path.name} is empty: expected a header {','.join(COLUMNS)}")
    unknown = [h for h in header if h not in COLUMNS]
    missing = [c for c in COLUMNS if c not in header]
    if unknown or missing:
        parts = []
        if unknown:
            parts.append("unknown column " + ", ".join(repr(u) for u in unknown))
        if missing:
            parts.append("missing column " + ", ".join(repr(m) for m in missing))
        raise ReplayInputError(f"{path.name}: {'; '.join(parts)} (expected {','.join(COLUMNS)})")


def _number(record: dict[str, str], column: str, path: Path, line_no: int) -> float:
    text = record[column]
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise ReplayInputError(f"{path.name} line {line_no}: bad {column} {text!r}")
    return value


def _in_range(ts: int, start_ms: int | None, end_ms: int | None) -> bool:
    return (start_ms is None or ts >= start_ms) and (end_ms is None or ts < end_ms)
