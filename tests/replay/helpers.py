"""Synthetic recorded history for the replay tests: small CSV files built row by row."""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path

from bot.replay.data import COLUMNS, HOUR_MS, format_time, parse_time

T0 = parse_time("2025-01-01T00:00:00Z")
BASE_FUNDING = 0.0001  # 0.01%/8h: a funding premium of zero


def hour(i: int) -> int:
    return T0 + i * HOUR_MS


@dataclass
class Rec:
    i: int  # hours after T0
    symbol: str = "AAAUSDT"
    close: float = 100.0
    index: float = 100.0
    funding: float = BASE_FUNDING
    oi: float = 1000.0

    def csv(self) -> str:
        ts = format_time(hour(self.i)).replace("Z", ":00Z")
        return f"{ts},{self.symbol},{self.close!r},{self.index!r},{self.funding!r},{self.oi!r}"


def write_csv(path: Path, recs: list[Rec], *, gz: bool = False, header: str | None = None) -> Path:
    text = "\n".join([header or ",".join(COLUMNS), *(r.csv() for r in recs)]) + "\n"
    if gz:
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return path


def index_for_basis(prev_close: float, basis_pct: float) -> float:
    """The index that makes (prev_close - index) / index = basis_pct / 100."""
    return prev_close / (1 + basis_pct / 100)


OHLC_HEADER = (
    "ts,symbol,open,high,low,close,mark,spot,funding_rate,funding_interval_h,oi_bybit,"
    "oi_binance_usd"
)


@dataclass
class Bar:
    """One row of the `ohlc-mark` format (the shipped file's): stamped at the hour's end."""

    i: int
    symbol: str = "AAAUSDT"
    close: float = 100.0
    high: float | None = None  # None: the close
    low: float | None = None
    mark: float | None = None
    spot: float = 100.0
    funding: float = BASE_FUNDING
    interval: float = 8
    oi: float = 1000.0

    def csv(self) -> str:
        ts = format_time(hour(self.i)).replace("Z", ":00Z")
        high = self.close if self.high is None else self.high
        low = self.close if self.low is None else self.low
        mark = self.close if self.mark is None else self.mark
        return (
            f"{ts},{self.symbol},{self.close!r},{high!r},{low!r},{self.close!r},{mark!r},"
            f"{self.spot!r},{self.funding!r},{self.interval!r},{self.oi!r},"
        )


def write_bars(path: Path, bars: list[Bar], *, gz: bool = False) -> Path:
    text = "\n".join([OHLC_HEADER, *(b.csv() for b in bars)]) + "\n"
    if gz:
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return path
