"""Long/short positioning per symbol: each venue's latest 5-minute ratio, fetched and
parsed, nothing else (bot/cycle/positioning.py decides what to fetch and when).

What each venue's number counts (docs/scoring.md, "Long/short positioning"):
- Binance `globalLongShortAccountRatio`: `longShortRatio` = the share of all accounts
  with a net long position over the share with a net short one (`longAccount /
  shortAccount`); `topLongShortPositionRatio`: the same over the positions (not
  accounts) of the top 20% of traders by margin balance.
- Bybit `account-ratio`: `buyRatio` and `sellRatio`, the shares of holders long and
  short; the ratio is buyRatio / sellRatio (Bybit's own "long-short account ratio").
- OKX `long-short-account-ratio-contract`: rows `[ts, ratio]`, the ratio of accounts
  net long to net short in that swap, as OKX computes it.
All are sent as strings, newest row first (Binance: oldest first; we take the newest
timestamp whatever the order).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from bot.markets import binance_constants as bn
from bot.markets import bybit_constants as by
from bot.markets import okx_constants as ok
from bot.markets.base import ExchangeUnavailable, MalformedResponse, SymbolUnavailable
from bot.markets.number_fields import to_int
from bot.markets.rest_client import RestClient
from bot.markets.rest_errors import ExchangeApiError


@dataclass(frozen=True, slots=True)
class Ratio:
    """One venue's reading: long/short, as of `time_ms` (the start of its 5-minute period)."""

    value: float
    time_ms: int


@dataclass(frozen=True, slots=True)
class Positioning:
    """A symbol's ratios on one venue; None where the venue has no such figure or its
    endpoint failed (the other one may still have answered)."""

    account: Ratio | None
    top_position: Ratio | None = None


def _positive(raw: object) -> float:
    value = float(raw)  # type: ignore[arg-type]
    if not value > 0 or value == float("inf"):
        raise ValueError(f"not a positive ratio: {raw!r}")
    return value


def _newest(rows: list[tuple[int, float]], what: str) -> Ratio:
    if not rows:
        raise SymbolUnavailable(f"{what}: no usable row")
    at, value = max(rows)
    return Ratio(value, at)


def parse_binance(body: Any, what: str) -> Ratio:
    """[{symbol, longShortRatio, longAccount, shortAccount, timestamp}, ...]."""
    if not isinstance(body, list):
        raise MalformedResponse(f"{what}: expected a list")
    rows = []
    for row in body:
        try:
            rows.append((to_int(row["timestamp"]), _positive(row["longShortRatio"])))
        except (KeyError, TypeError, ValueError):
            continue
    return _newest(rows, what)


def parse_bybit(body: Any, what: str) -> Ratio:
    """{"retCode": 0, "result": {"list": [{symbol, buyRatio, sellRatio, timestamp}]}}."""
    result = body.get("result") if isinstance(body, dict) else None
    listed = result.get("list") if isinstance(result, dict) else None
    if not isinstance(listed, list):
        raise MalformedResponse(f"{what}: no result.list")
    rows = []
    for row in listed:
        try:
            ratio = _positive(row["buyRatio"]) / _positive(row["sellRatio"])
            rows.append((to_int(row["timestamp"]), ratio))
        except (KeyError, TypeError, ValueError, ZeroDivisionError):
            continue
    return _newest(rows, what)


def parse_okx(body: Any, what: str) -> Ratio:
    """{"code": "0", "data": [["1701417600000", "1.1739"], ...]}."""
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, list):
        raise MalformedResponse(f"{what}: no data list")
    rows = []
    for row in data:
        try:
            rows.append((to_int(row[0]), _positive(row[1])))
        except (IndexError, KeyError, TypeError, ValueError):
            continue
    return _newest(rows, what)


async def _get(client: RestClient, path: str, params: dict[str, str | int], symbol: str) -> Any:
    """One call; the venue's "no such symbol" (or any other API error) is this symbol's
    problem, not the venue's."""
    try:
        # No retries: a failure ends this venue's round, the next round tries again, and
        # a retry after a 429 would wait out Retry-After inside a background fetch.
        body = await client.get_json(path, params, weight=0, retries=0)
    except ExchangeApiError as exc:
        raise SymbolUnavailable(f"{symbol}: {path}: {exc.msg} (code {exc.code})") from None
    code = body.get("retCode", body.get("code")) if isinstance(body, dict) else None
    if code is not None and str(code) != "0":
        msg = body.get("retMsg", body.get("msg"))
        raise SymbolUnavailable(f"{symbol}: {path}: {msg} (code {code})")
    return body


async def binance(client: RestClient, symbol: str) -> Positioning:
    """Both Binance ratios (two calls, weight 0 each). The account ratio failing for the
    venue (unreachable, rate-limited) raises; the top traders' one failing once the
    account ratio is in leaves it None, as does a symbol-level answer to either."""
    params: dict[str, str | int] = {"symbol": symbol, "period": "5m", "limit": 1}
    try:
        account = parse_binance(
            await _get(client, bn.GLOBAL_LS_ACCOUNT, params, symbol), bn.GLOBAL_LS_ACCOUNT
        )
    except (SymbolUnavailable, MalformedResponse):
        account = None
    try:
        top = parse_binance(
            await _get(client, bn.TOP_LS_POSITION, params, symbol), bn.TOP_LS_POSITION
        )
    except (SymbolUnavailable, MalformedResponse):
        top = None
    except ExchangeUnavailable:
        if account is None:
            raise
        top = None  # a ban or a pause is the client's; the next symbol meets it first
    if account is None and top is None:
        raise SymbolUnavailable(f"{symbol}: no usable long/short ratio")
    return Positioning(account, top)


async def bybit(client: RestClient, symbol: str) -> Positioning:
    params: dict[str, str | int] = {
        "category": "linear",
        "symbol": symbol,
        "period": "5min",
        "limit": 1,
    }
    body = await _get(client, by.ACCOUNT_RATIO, params, symbol)
    return Positioning(parse_bybit(body, by.ACCOUNT_RATIO))


async def okx(client: RestClient, symbol: str) -> Positioning:
    params: dict[str, str | int] = {"instId": symbol, "period": "5m", "limit": 1}
    body = await _get(client, ok.LS_ACCOUNT_RATIO, params, symbol)
    return Positioning(parse_okx(body, ok.LS_ACCOUNT_RATIO))


@dataclass(frozen=True, slots=True)
class VenueRatios:
    """How a venue's ratios are fetched and budgeted.

    - `path`: the window the calls spend (their own, or one shared with the cycle);
    - `reserve`: free slots of that window the ratios leave to the cycle;
    - `calls`: calls per symbol;
    - `refill_seconds`: how long a spent budget takes to free slots again; a window this
      short is waited for within a round, a longer one (Binance's 5 minutes) ends it.
    """

    fetch: Callable[[RestClient, str], Awaitable[Positioning]]
    path: str
    reserve: int
    calls: int
    refill_seconds: float


VENUES = {
    "binance": VenueRatios(binance, bn.FUTURES_DATA, bn.POSITIONING_RESERVE, 2, 300.0),
    "bybit": VenueRatios(bybit, by.ACCOUNT_RATIO, by.POSITIONING_RESERVE, 1, 5.0),
    "okx": VenueRatios(okx, ok.LS_ACCOUNT_RATIO, ok.POSITIONING_RESERVE, 1, 2.0),
}
