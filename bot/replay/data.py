"""Reading recorded hourly history (CSV or CSV.GZ) for `pressurebot replay`.

Two formats are read; the header says which (any column order; an unknown or missing
column is an error, and so is a header that matches neither).

**`ohlc-mark`** (the default file, `data/perp_hourly_5coins_binance.csv.gz`): one venue
for price, mark, spot and funding on one row, stamped at the *end* of the hour.

| column               | meaning                                    | becomes                  |
|----------------------|--------------------------------------------|--------------------------|
| `ts`                 | end of the hour, UTC, ISO 8601             | `Row.ts_ms`              |
| `symbol`             | e.g. `SOLUSDT`                             | `Row.symbol`             |
| `open`               | perp open of the hour                      | (unused)                 |
| `high`, `low`        | perp high / low over [ts-1h, ts)           | excursions               |
| `close`              | perp close at ts                           | the price at ts          |
| `mark`               | mark price at ts                           | the basis' mark          |
| `spot`               | spot close at ts                           | the basis' index         |
| `funding_rate`       | last settled rate, fraction per interval   | 100x: % per interval     |
| `funding_interval_h` | hours of that interval (8; at times 2, 4)  | the scorer's interval    |
| `oi_bybit`           | open interest in coins at ts               | contracts at ts          |
| `oi_binance_usd`     | optional, mostly empty                     | (unused)                 |

Every value on such a row is known at ts, so the hour T is scored from row T alone:
mark(T) = `mark`, index(T) = `spot`, and forward moves use `close` and `high`/`low`.

**`close-index`** (the older `data/perp_hourly_5coins.csv.gz`, Deribit price, index and
funding, Bybit OI): `ts`, `symbol`, `perp_close` (close of the candle that *opens* at
ts), `index_price` (sampled at ts), `funding_8h` (fraction per 8h), `open_interest`.
The close of row t and the index of row t are one hour apart there: chart candles are
labelled by their opening time, the index by its sampling time. The median
|close_t / index_t - 1| is 0.25-0.47% per symbol and that same-row "basis" correlates
0.80-0.99 with the hour's own move; pairing the close of row t with the index of row
t+1 gives a median of 0.05-0.16%, 3-9x smaller than any other lag. So the instant T is
scored with index(T) = `index_price` of row T, mark(T) = `perp_close` of row T-1h,
funding and OI of row T; `same_row=True` (CLI `--same-row-basis`) pairs them naively.
This format has no highs and lows: its excursions are measured on hourly closes.

An hour is scored only when the rows it needs exist; otherwise that symbol "failed to
fetch" that cycle, exactly as live, and keeps its alert state. Gaps are never filled:
rows are keyed by their timestamp, and every lookup (OI windows, the previous close,
forward moves) asks for an exact hour. A row with an empty required field is skipped as
missing; an unparseable value, a duplicate (symbol, ts), a missing file or a wrong
header raise `ReplayInputError` with one line naming the problem.
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
FORMAT_CLOSE_INDEX = "close-index"
FORMAT_OHLC_MARK = "ohlc-mark"
# Per format: (required columns, optional columns).
FORMATS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    FORMAT_CLOSE_INDEX: (
        ("ts", "symbol", "perp_close", "index_price", "funding_8h", "open_interest"),
        (),
    ),
    FORMAT_OHLC_MARK: (
        (
            "ts",
            "symbol",
            "open",
            "high",
            "low",
            "close",
            "mark",
            "spot",
            "funding_rate",
            "funding_interval_h",
            "oi_bybit",
        ),
        ("oi_binance_usd",),
    ),
}
COLUMNS = FORMATS[FORMAT_CLOSE_INDEX][0]  # the older format (tests build files with it)
FUNDING_INTERVAL_HOURS = 8  # funding_8h of the older format is per 8h
_DATA = Path(__file__).resolve().parents[2] / "data"
# The recorded history shipped with the repository (data/README.md): what
# `pressurebot replay` reads when no path is given. Found next to the source tree, so it
# works from a clone (editable install) whatever the working directory; a wheel does not
# carry it, and then the CLI asks for a path.
SHIPPED_HISTORY = _DATA / "perp_hourly_5coins_binance.csv.gz"
OLDER_HISTORY = _DATA / "perp_hourly_5coins.csv.gz"


class ReplayInputError(Exception):
    """Bad input for a replay, with a one-line user-readable message."""


@dataclass(frozen=True, slots=True)
class Row:
    """One recorded hour, whatever the format. `perp_close` and `index_price` are the
    row's own columns (their time alignment is the format's, see the module doc)."""

    ts_ms: int
    symbol: str
    perp_close: float
    index_price: float
    funding_rate: float  # fraction per funding interval, as recorded
    open_interest: float  # contracts (coins)
    funding_interval_h: float = FUNDING_INTERVAL_HOURS
    mark: float | None = None  # the mark price at ts (ohlc-mark only)
    high: float | None = None  # perp high / low of the hour ending at ts (ohlc-mark only)
    low: float | None = None

    @property
    def funding_pct(self) -> float:
        """Funding in percent per interval (`funding_interval_h`)."""
        return self.funding_rate * 100.0


@dataclass(slots=True)
class History:
    """Rows per symbol, each list sorted by time, plus what reading skipped."""

    rows: dict[str, list[Row]]
    skipped_empty: int = 0
    format: str = FORMAT_CLOSE_INDEX

    @property
    def row_count(self) -> int:
        return sum(len(r) for r in self.rows.values())

    @property
    def has_ranges(self) -> bool:
        """Highs and lows recorded: excursions are measured on them, else on closes."""
        return self.format == FORMAT_OHLC_MARK


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
    fmt = FORMAT_CLOSE_INDEX
    # Every symbol repeats each hour's timestamp: parsed once per distinct text.
    times: dict[str, int] = {}
    for fmt, line_no, record in _records(path):
        if not all(map(str.strip, map(record.__getitem__, FORMATS[fmt][0]))):
            skipped += 1
            continue
        text = record["ts"]
        ts = times.get(text)
        if ts is None:
            try:
                ts = times[text] = parse_time(text)
            except ValueError:
                raise ReplayInputError(f"{path.name} line {line_no}: bad ts {text!r}") from None
        symbol = record["symbol"].strip().upper()
        if (wanted is not None and symbol not in wanted) or not _in_range(ts, start_ms, end_ms):
            continue
        row = _row(fmt, ts, symbol, record, path, line_no)
        per_symbol = rows.setdefault(symbol, {})
        if ts in per_symbol:
            raise ReplayInputError(
                f"{path.name} line {line_no}: duplicate row for {symbol} at {record['ts']}"
            )
        per_symbol[ts] = row
    history = {s: [r[t] for t in sorted(r)] for s, r in sorted(rows.items())}
    return History(history, skipped, fmt)


# The number columns each format's Row is built from, in Row's order after (ts, symbol).
_CLOSE_INDEX_NUMBERS = ("perp_close", "index_price", "funding_8h", "open_interest")
_OHLC_MARK_NUMBERS = (
    "close", "spot", "funding_rate", "oi_bybit", "funding_interval_h", "mark", "high", "low"
)  # fmt: skip


def _row(fmt: str, ts: int, symbol: str, record: dict[str, str], path: Path, line_no: int) -> Row:
    columns = _CLOSE_INDEX_NUMBERS if fmt == FORMAT_CLOSE_INDEX else _OHLC_MARK_NUMBERS
    try:  # the common case in one pass; a bad value is named by _number below
        numbers = list(map(float, map(record.__getitem__, columns)))
        if not all(map(math.isfinite, numbers)):
            raise ValueError
    except ValueError:  # checked one by one, in the order that names the first problem
        return _row_checked(fmt, ts, symbol, record, path, line_no)
    if fmt == FORMAT_CLOSE_INDEX:
        return Row(ts, symbol, *numbers)
    close, spot, funding, oi, interval, mark, high, low = numbers
    if interval <= 0 or high < low:  # _row_checked names the problem
        return _row_checked(fmt, ts, symbol, record, path, line_no)
    return Row(ts, symbol, close, spot, funding, oi, interval, mark, high, low)


def _row_checked(
    fmt: str, ts: int, symbol: str, record: dict[str, str], path: Path, line_no: int
) -> Row:
    def num(column: str) -> float:
        return _number(record, column, path, line_no)

    if fmt == FORMAT_CLOSE_INDEX:
        return Row(ts, symbol, *(num(c) for c in _CLOSE_INDEX_NUMBERS))
    interval = num("funding_interval_h")
    if interval <= 0:
        raise ReplayInputError(f"{path.name} line {line_no}: bad funding_interval_h {interval!r}")
    high, low = num("high"), num("low")
    if high < low:
        raise ReplayInputError(f"{path.name} line {line_no}: high {high!r} is below low {low!r}")
    close, spot, funding, oi = (num(c) for c in ("close", "spot", "funding_rate", "oi_bybit"))
    return Row(ts, symbol, close, spot, funding, oi, interval, num("mark"), high, low)


def _records(path: Path) -> Iterator[tuple[str, int, dict[str, str]]]:
    try:
        with path.open("rb") as raw:
            gzipped = raw.read(2) == b"\x1f\x8b"
        with (
            gzip.open(path, "rb") if gzipped else path.open("rb") as binary,
            io.TextIOWrapper(binary, encoding="utf-8", newline="") as text,
        ):
            reader = csv.DictReader(text)
            fmt = _check_header(path, reader.fieldnames)
            required = FORMATS[fmt][0]
            for record in reader:
                if None in record or None in map(record.get, required):
                    raise ReplayInputError(
                        f"{path.name} line {reader.line_num}: expected "
                        f"{len(reader.fieldnames or ())} fields"
                    )
                yield fmt, reader.line_num, record
    except (OSError, EOFError, UnicodeDecodeError, csv.Error) as exc:
        raise ReplayInputError(f"cannot read {path}: {exc}") from None


def _check_header(path: Path, header: Sequence[str] | None) -> str:
    """The format the header names; else one line naming what is wrong, measured
    against the nearer format (the one sharing more columns with the header)."""
    expected = " or ".join(",".join(req) for req, _ in FORMATS.values())
    if not header:
        raise ReplayInputError(f"{path.name} is empty: expected a header {expected}")
    given = set(header)

    def overlap(fmt: str) -> int:
        return len(given & set(FORMATS[fmt][0]))

    fmt = max(FORMATS, key=overlap)
    required, optional = FORMATS[fmt]
    unknown = [h for h in header if h not in required and h not in optional]
    missing = [c for c in required if c not in given]
    if unknown or missing:
        parts = []
        if unknown:
            parts.append("unknown column " + ", ".join(repr(u) for u in unknown))
        if missing:
            parts.append("missing column " + ", ".join(repr(m) for m in missing))
        raise ReplayInputError(f"{path.name}: {'; '.join(parts)} (expected {','.join(required)})")
    return fmt


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
