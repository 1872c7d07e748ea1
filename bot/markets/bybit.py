"""Bybit v5 USDT linear perpetuals: fetch and parse, nothing else.

Endpoints, limits and error codes are in bybit_constants.py, with their sources. What
the parsing relies on:
- Every answer is an envelope `{"retCode", "retMsg", "result": {"list", "nextPageCursor"}}`;
  a non-zero `retCode` comes with HTTP 200. Numbers inside are strings.
- One `GET /v5/market/tickers?category=linear` carries every symbol's mark, index,
  funding rate, funding interval and OI: one request per cycle.
- `openInterest` counts **both sides** of every position; Binance and OKX count one.
  We use `singleOpenInterest` where sent, else `openInterest / 2`, so venues add up.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

from bot.config import ExchangeSettings
from bot.markets.adapter_counters import ClientCounters
from bot.markets.base import (
    Instrument,
    MalformedResponse,
    OiPoint,
    OpenInterest,
    PremiumIndex,
    SymbolUnavailable,
)
from bot.markets.bulk_snapshot import Snapshot
from bot.markets.bybit_constants import (
    HISTORY_PAGE,
    INSTRUMENTS,
    INSTRUMENTS_PAGE,
    LIMITS,
    OPEN_INTEREST,
    SYMBOL_ERRORS,
    TICKERS,
)
from bot.markets.number_fields import int_or_none, number, to_int
from bot.markets.rest_client import RestClient
from bot.markets.rest_errors import ExchangeApiError
from bot.markets.ttl_cache import TtlCache

logger = logging.getLogger(__name__)

# A cursor chain that does not end is a bad answer, not a huge universe.
MAX_PAGES = 50
# Contracts on stocks, metals or currencies (Binance's TRADIFI), excluded like there.
NON_CRYPTO_SYMBOL_TYPES = frozenset(
    {"xstocks", "stock", "stocks", "commodity", "commodities", "metal", "metals", "forex"}
)


def make_client(
    settings: ExchangeSettings, base_url: str | None = None, **kwargs: Any
) -> RestClient:
    """A client for Bybit at `base_url` (default `exchange.bybit_base_url`), with
    `settings`' concurrency, timeout and retries."""
    return RestClient(settings, LIMITS, base_url=base_url or settings.bybit_base_url, **kwargs)


def result_list(url: str, body: Any) -> tuple[list[Any], str]:
    """The envelope's `result.list` and `nextPageCursor`; a non-zero retCode raises."""
    if not isinstance(body, dict):
        raise MalformedResponse(f"{url}: expected an object")
    code = int_or_none(body.get("retCode"))
    if code is None:
        raise MalformedResponse(f"{url}: no retCode")
    if code != 0:
        raise ExchangeApiError(url, 200, code, str(body.get("retMsg", "")))
    result = body.get("result")
    rows = result.get("list") if isinstance(result, dict) else None
    if not isinstance(rows, list):
        raise MalformedResponse(f"{url}: no result.list")
    cursor = result.get("nextPageCursor") if isinstance(result, dict) else None
    return rows, cursor if isinstance(cursor, str) else ""


def single_side_oi(row: Any, total: str, single: str) -> float:
    """One side of the OI: `single` if sent, else half of the both-sides `total`."""
    if isinstance(row, dict) and row.get(single) not in (None, ""):
        return number(row, single, minimum=0.0)
    return number(row, total, minimum=0.0) / 2.0


class _Tickers:
    """One tickers answer, parsed."""

    def __init__(self) -> None:
        self.premium: dict[str, PremiumIndex] = {}
        self.oi: dict[str, OpenInterest] = {}
        self.interval_hours: dict[str, int] = {}
        self.turnover: dict[str, float] = {}
        self.skipped: list[str] = []


class BybitAdapter(ClientCounters):
    """The ExchangeAdapter (and BulkOpenInterest) for Bybit USDT perpetuals."""

    name = "bybit"
    history_label = "bybit open-interest"

    def __init__(
        self,
        client: RestClient,
        settings: ExchangeSettings,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self._settings = settings
        self._clock = clock
        self._universe: TtlCache[list[Instrument]] = TtlCache("bybit instruments")
        # fundingInterval (minutes) from instruments-info, for tickers rows without one.
        self._listed_interval_hours: dict[str, int] = {}
        self._tickers: Snapshot[_Tickers] = Snapshot(self._fetch_tickers, clock)
        self.last_skipped: list[str] = []
        self.skipped_rows = 0

    # Universe.

    async def universe(self) -> list[Instrument]:
        """Trading USDT linear perpetuals (no pre-listing, no stock/metal/FX), by symbol."""
        ttl = self._settings.universe_ttl_seconds
        return list(await self._universe.get(self._clock(), ttl, self._fetch_universe, []))

    async def _fetch_universe(self) -> list[Instrument]:
        rows = await self._paged(
            INSTRUMENTS, {"category": "linear", "limit": INSTRUMENTS_PAGE}, history=False
        )
        found = [i for i in map(self._instrument, rows) if i is not None]
        if not found:
            raise MalformedResponse(f"{INSTRUMENTS}: no trading USDT perpetuals")
        if self._settings.min_quote_volume_usd > 0:
            turnover = (await self._tickers.get()).turnover
            floor = self._settings.min_quote_volume_usd
            found = [i for i in found if turnover.get(i.symbol, 0.0) >= floor]
        return sorted(found, key=lambda i: i.symbol)

    def _instrument(self, row: Any) -> Instrument | None:
        quotes = set(self._settings.quote_assets)
        if (
            not isinstance(row, dict)
            or not isinstance(row.get("symbol"), str)
            or row.get("contractType") != "LinearPerpetual"
            or row.get("status") != "Trading"
            or row.get("quoteCoin") not in quotes
            or row.get("settleCoin") != row.get("quoteCoin")
            or str(row.get("isPreListing", "false")).lower() == "true"
            or str(row.get("symbolType", "")).lower() in NON_CRYPTO_SYMBOL_TYPES
            or not row.get("baseCoin")
        ):
            return None
        minutes = int_or_none(row.get("fundingInterval"))
        if minutes is not None and minutes > 0:
            self._listed_interval_hours[row["symbol"]] = max(1, round(minutes / 60))
        return Instrument(
            exchange=self.name,
            symbol=row["symbol"],
            base_asset=str(row["baseCoin"]),
            quote_asset=str(row["quoteCoin"]),
            onboard_ms=int_or_none(row.get("launchTime")),
        )

    # Mark, index, funding and OI: one tickers call per cycle.

    async def premium_index(self) -> dict[str, PremiumIndex]:
        """Every symbol's mark, index and current funding rate (fraction per interval)."""
        return dict((await self._tickers.get()).premium)

    async def open_interest_all(self) -> dict[str, OpenInterest]:
        """Every symbol's OI, one side, in base-coin units (the same tickers answer)."""
        return dict((await self._tickers.get()).oi)

    async def funding_intervals(self) -> dict[str, int]:
        """Hours per funding interval, per symbol, as of this cycle's tickers."""
        tickers = await self._tickers.get()
        return {**self._listed_interval_hours, **tickers.interval_hours}

    async def open_interest(self, symbol: str) -> OpenInterest:
        """One symbol's OI from this cycle's tickers; SymbolUnavailable if not listed."""
        tickers = await self._tickers.get()
        found = tickers.oi.get(symbol)
        if found is None:
            raise SymbolUnavailable(f"{symbol}: not in bybit tickers")
        return found

    async def _fetch_tickers(self) -> _Tickers:
        body = await self._client.get_json(TICKERS, {"category": "linear"}, weight=1)
        rows, _ = result_list(TICKERS, body)
        now_ms = int_or_none(body.get("time")) or int(self._clock() * 1000)
        parsed = _Tickers()
        for row in rows:
            self._parse_ticker(row, now_ms, parsed)
        self.last_skipped = parsed.skipped
        self.skipped_rows += len(parsed.skipped)
        if parsed.skipped:
            logger.warning(
                "%s: skipped %d unusable row(s): %s",
                TICKERS,
                len(parsed.skipped),
                ", ".join(parsed.skipped[:20]),
            )
        return parsed

    @staticmethod
    def _parse_ticker(row: Any, now_ms: int, into: _Tickers) -> None:
        symbol = row.get("symbol") if isinstance(row, dict) else None
        if not isinstance(symbol, str):
            return
        try:
            into.premium[symbol] = PremiumIndex(
                symbol=symbol,
                mark_price=number(row, "markPrice", minimum=0.0, strict=True),
                index_price=number(row, "indexPrice", minimum=0.0, strict=True),
                funding_rate=number(row, "fundingRate"),
                time_ms=now_ms,
            )
            oi = single_side_oi(row, "openInterest", "singleOpenInterest")
            into.oi[symbol] = OpenInterest(symbol=symbol, contracts=oi, time_ms=now_ms)
        except (ValueError, TypeError) as exc:
            into.premium.pop(symbol, None)
            into.skipped.append(f"{symbol} ({exc})")
            return
        hours = int_or_none(row.get("fundingIntervalHour"))
        if hours is not None and hours > 0:
            into.interval_hours[symbol] = hours
        # No volume figure: the symbol falls under a volume floor.
        with contextlib.suppress(ValueError, TypeError):
            into.turnover[symbol] = number(row, "turnover24h", minimum=0.0)

    # History, for backfill only.

    async def open_interest_history(
        self, symbol: str, *, start_ms: int, end_ms: int
    ) -> list[OiPoint]:
        """5-minute OI samples (one side, base coin) within [start_ms, end_ms], oldest first."""
        params: dict[str, str | int] = {
            "category": "linear",
            "symbol": symbol,
            "intervalTime": "5min",
            "startTime": start_ms,
            "endTime": end_ms,
            "limit": HISTORY_PAGE,
        }
        try:
            rows = await self._paged(OPEN_INTEREST, params, history=True)
        except ExchangeApiError as exc:
            if exc.code in SYMBOL_ERRORS or exc.status in (400, 404):
                raise SymbolUnavailable(f"{symbol}: {exc.msg} (retCode {exc.code})") from None
            raise
        except MalformedResponse as exc:
            raise SymbolUnavailable(f"{symbol}: {exc}") from None
        points: dict[int, float] = {}
        for row in rows:
            try:
                at = to_int(row["timestamp"])
                oi = single_side_oi(row, "openInterest", "singleOpenInterest")
            except (ValueError, TypeError, KeyError):
                self.skipped_rows += 1
                continue
            if start_ms <= at <= end_ms:
                points[at] = oi
        return [OiPoint(time_ms=t, contracts=points[t]) for t in sorted(points)]

    async def _paged(self, path: str, params: dict[str, str | int], *, history: bool) -> list[Any]:
        """Every row of a cursor-paged list; stops at an empty cursor or an empty page."""
        rows: list[Any] = []
        cursor = ""
        for _ in range(MAX_PAGES):
            query = {**params, "cursor": cursor} if cursor else params
            body = await self._client.get_json(path, query, weight=1, history=history)
            page, cursor = result_list(path, body)
            rows.extend(page)
            if not cursor or not page:
                return rows
        raise MalformedResponse(f"{path}: more than {MAX_PAGES} pages")
