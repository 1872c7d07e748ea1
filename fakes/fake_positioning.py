"""Long/short positioning as the three venue fakes serve it, in each venue's shape.

Each symbol's figures are `Ls` shares (of accounts net long; of Binance's top traders'
positions long), set per fake with `fake.ls[symbol] = Ls(0.6, 0.55)` or derived from
the name. The latest row is stamped with the start of the last complete 5-minute
period, as the venues publish them.
- Binance `/futures/data/globalLongShortAccountRatio`, `topLongShortPositionRatio`: a
  list, oldest first, of `{"symbol", "longShortRatio", "longAccount", "shortAccount",
  "timestamp"}`, numbers as strings (timestamp an int); period and limit checked.
- Bybit `/v5/market/account-ratio`: `result.list` of `{"symbol", "buyRatio",
  "sellRatio", "timestamp"}`, newest first.
- OKX `/api/v5/rubik/stat/contracts/long-short-account-ratio-contract`: `data` of
  `[ts, ratio]` arrays, newest first.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any

PERIOD_MS = 300_000
BINANCE_GLOBAL = "/futures/data/globalLongShortAccountRatio"
BINANCE_TOP = "/futures/data/topLongShortPositionRatio"
BYBIT_ACCOUNT_RATIO = "/v5/market/account-ratio"
OKX_ACCOUNT_RATIO = "/api/v5/rubik/stat/contracts/long-short-account-ratio-contract"
BINANCE_PERIODS = ("5m", "15m", "30m", "1h", "2h", "4h", "6h", "12h", "1d")


@dataclass
class Ls:
    account_long: float  # share of accounts net long, 0-1
    top_long: float = 0.5  # share of the top traders' positions that is long (Binance)


def default_ls(symbol: str) -> Ls:
    """Something between 35% and 75% long, the same for a name every time."""
    h = zlib.crc32(symbol.encode())
    return Ls(0.35 + (h % 400) / 1000, 0.35 + (h // 400 % 400) / 1000)


def latest_period(now_ms: int) -> int:
    return now_ms - now_ms % PERIOD_MS - PERIOD_MS


def _rows(share: float, now_ms: int, n: int) -> list[tuple[int, float]]:
    """n periods, newest first, the share drifting a little back in time."""
    last = latest_period(now_ms)
    return [(last - k * PERIOD_MS, min(0.95, share + 0.002 * k)) for k in range(n)]


def binance(symbol: str, ls: Ls, path: str, params: dict[str, str], now_ms: int) -> tuple[int, Any]:
    if params.get("period") not in BINANCE_PERIODS:
        return 400, {"code": -1120, "msg": "Invalid interval."}
    try:
        limit = int(params.get("limit", 30))
    except ValueError:
        return 400, {"code": -1100, "msg": "Illegal characters found in a parameter."}
    if not 1 <= limit <= 500:
        return 400, {"code": -1130, "msg": "Data sent for parameter 'limit' is not valid."}
    share = ls.account_long if path == BINANCE_GLOBAL else ls.top_long
    return 200, [
        {
            "symbol": symbol,
            "longShortRatio": f"{p / (1 - p):.4f}",
            "longAccount": f"{p:.4f}",
            "shortAccount": f"{1 - p:.4f}",
            "timestamp": t,
        }
        for t, p in reversed(_rows(share, now_ms, limit))
    ]


def bybit(symbol: str, ls: Ls, params: dict[str, str], now_ms: int) -> list[dict[str, str]] | None:
    """None: a period Bybit does not know (its answer is a params error)."""
    if params.get("period") not in ("5min", "15min", "30min", "1h", "4h", "1d"):
        return None
    limit = max(1, min(500, int(params.get("limit", "50") or 50)))
    return [
        {"symbol": symbol, "buyRatio": f"{p:.4f}", "sellRatio": f"{1 - p:.4f}", "timestamp": str(t)}
        for t, p in _rows(ls.account_long, now_ms, limit)
    ]


def okx(ls: Ls, params: dict[str, str], now_ms: int) -> list[list[str]]:
    limit = max(1, min(100, int(params.get("limit", "100") or 100)))
    return [[str(t), f"{p / (1 - p):.4f}"] for t, p in _rows(ls.account_long, now_ms, limit)]
