"""Binance USDⓈ-M futures adapter: fetch and parse, nothing else.

Binance sends prices, rates and OI as strings and times as integer milliseconds (though
openInterestHist has sent `timestamp` as a string too). A row that cannot be parsed is
skipped and reported, never allowed to crash a cycle.
"""

from __future__ import annotations

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
from bot.markets.binance_constants import (
    EXCHANGE_INFO,
    FUNDING_INFO,
    HISTORY_MAX_AGE_MS,
    HISTORY_PAGE_LIMIT,
    HISTORY_PERIOD_MS,
    INVALID_SYMBOL,
    OPEN_INTEREST,
    OPEN_INTEREST_HIST,
    PREMIUM_INDEX,
    TICKER_24H,
    WEIGHT_EXCHANGE_INFO,
    WEIGHT_FUNDING_INFO,
    WEIGHT_OPEN_INTEREST,
    WEIGHT_OPEN_INTEREST_HIST,
    WEIGHT_PREMIUM_INDEX_ALL,
    WEIGHT_TICKER_24H_ALL,
    limits,
)
from bot.markets.number_fields import int_or_none, number, to_int
from bot.markets.rest_client import RestClient
from bot.markets.rest_errors import ExchangeApiError
from bot.markets.ttl_cache import TtlCache

logger = logging.getLogger(__name__)

# A page spans at most 500 five-minute marks, so it is complete whichever end of an
# over-full range the server would have kept.
HISTORY_PAGE_SPAN_MS = HISTORY_PAGE_LIMIT * HISTORY_PERIOD_MS
MAX_SYMBOLS_LOGGED = 20


def make_client(
    settings: ExchangeSettings, base_url: str | None = None, **kwargs: Any
) -> RestClient:
    """A client for Binance at `base_url` (default `exchange.base_url`), within the
    operator's weight and history budgets."""
    budget = limits(
        settings.weight_limit_per_minute,
        settings.weight_safety_margin,
        settings.history_calls_per_5m,
    )
    return RestClient(settings, budget, base_url=base_url or settings.base_url, **kwargs)


def parse_premium(row: Any, now_ms: int) -> PremiumIndex:
    """One premiumIndex row; ValueError when it is unusable (the row is skipped)."""
    if not isinstance(row, dict) or not isinstance(row.get("symbol"), str):
        raise ValueError("row without a symbol")
    return PremiumIndex(
        symbol=row["symbol"],
        mark_price=number(row, "markPrice", minimum=0.0, strict=True),
        index_price=number(row, "indexPrice", minimum=0.0, strict=True),
        funding_rate=number(row, "lastFundingRate"),
        time_ms=int_or_none(row.get("time")) or now_ms,
    )


class BinanceAdapter(ClientCounters):
    """The ExchangeAdapter for Binance USDⓈ-M perpetuals.

    `clock` (epoch seconds) drives the caches and the history clamp, so tests can move
    time. The universe and funding intervals are cached; when a refresh fails, the last
    good copy is kept (with a warning) rather than failing the cycle.
    """

    name = "binance"
    history_label = "openInterestHist"

    def __init__(
        self,
        client: RestClient,
        settings: ExchangeSettings,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self._settings = settings
        self._clock = clock
        self._universe: TtlCache[list[Instrument]] = TtlCache("universe")
        self._funding: TtlCache[dict[str, int]] = TtlCache("fundingInfo")
        self._funding_empty_warned = False
        self._funding_conflicts_logged: frozenset[tuple[str, tuple[int, ...]]] = frozenset()
        # Symbols whose premiumIndex row was unusable in the last call.
        self.last_skipped: list[str] = []
        self.skipped_rows = 0

    # Universe.

    async def universe(self) -> list[Instrument]:
        """Trading perpetuals in the configured quote assets, sorted by symbol."""
        ttl = self._settings.universe_ttl_seconds
        return list(await self._universe.get(self._clock(), ttl, self._fetch_universe, []))

    async def _fetch_universe(self) -> list[Instrument]:
        data = await self._client.get_json(EXCHANGE_INFO, weight=WEIGHT_EXCHANGE_INFO)
        rows = data.get("symbols") if isinstance(data, dict) else None
        if not isinstance(rows, list):
            raise MalformedResponse(f"{EXCHANGE_INFO}: no 'symbols' list")
        quotes = set(self._settings.quote_assets)
        found: list[Instrument] = []
        for row in rows:
            # Filter positively: exchangeInfo carries contract types beyond those documented.
            if (
                not isinstance(row, dict)
                or row.get("contractType") != "PERPETUAL"
                or row.get("status") != "TRADING"
                or row.get("quoteAsset") not in quotes
                or not isinstance(row.get("symbol"), str)
            ):
                continue
            found.append(
                Instrument(
                    exchange=self.name,
                    symbol=row["symbol"],
                    base_asset=str(row.get("baseAsset", "")),
                    quote_asset=row["quoteAsset"],
                    onboard_ms=int_or_none(row.get("onboardDate")),
                )
            )
        if not found:
            # Surely a bad answer, not a market with nothing listed: keep the old universe.
            raise MalformedResponse(f"{EXCHANGE_INFO}: no trading perpetuals in {sorted(quotes)}")
        if self._settings.min_quote_volume_usd > 0:
            volumes = await self._quote_volumes()
            floor = self._settings.min_quote_volume_usd
            found = [i for i in found if volumes.get(i.symbol, 0.0) >= floor]
        return sorted(found, key=lambda i: i.symbol)

    async def _quote_volumes(self) -> dict[str, float]:
        data = await self._client.get_json(TICKER_24H, weight=WEIGHT_TICKER_24H_ALL)
        if not isinstance(data, list):
            raise MalformedResponse(f"{TICKER_24H}: expected a list")
        volumes: dict[str, float] = {}
        for row in data:
            try:
                volumes[row["symbol"]] = number(row, "quoteVolume", minimum=0.0)
            except (ValueError, TypeError, KeyError):
                continue  # no volume figure: the symbol falls under the floor
        return volumes

    # Funding, mark and index.

    async def premium_index(self) -> dict[str, PremiumIndex]:
        """Every symbol's mark, index and last funding rate, in one call (weight 10).

        May include symbols outside the universe; callers filter. Unparsable rows are
        skipped, listed in `last_skipped` and counted in `skipped_rows`.
        """
        data = await self._client.get_json(PREMIUM_INDEX, weight=WEIGHT_PREMIUM_INDEX_ALL)
        if not isinstance(data, list):
            raise MalformedResponse(f"{PREMIUM_INDEX}: expected a list")
        now_ms = int(self._clock() * 1000)
        # Quarterly contracts come with empty funding fields; only our symbols are news.
        known = {i.symbol for i in self._universe.value} if self._universe.value else None
        result: dict[str, PremiumIndex] = {}
        skipped: list[str] = []
        bad: list[str] = []
        for row in data:
            try:
                record = parse_premium(row, now_ms)
            except (ValueError, TypeError) as exc:
                symbol = row.get("symbol") if isinstance(row, dict) else None
                if known is None or symbol in known:
                    skipped.append(str(symbol))
                    bad.append(f"{symbol} ({exc})")
                continue
            result[record.symbol] = record
        self.last_skipped = skipped
        self.skipped_rows += len(skipped)
        if bad:
            logger.warning(
                "%s: skipped %d unusable row(s): %s%s",
                PREMIUM_INDEX,
                len(bad),
                ", ".join(bad[:MAX_SYMBOLS_LOGGED]),
                " ..." if len(bad) > MAX_SYMBOLS_LOGGED else "",
            )
        return result

    async def funding_intervals(self) -> dict[str, int]:
        """Funding interval hours for symbols Binance lists in fundingInfo.

        A symbol absent from the result is on the default 8h; the caller applies that.
        Cached for at most funding_info_ttl_seconds (≤ 1h): intervals do change.
        """
        ttl = self._settings.funding_info_ttl_seconds
        fetch = self._fresh_funding_intervals
        return dict(await self._funding.get(self._clock(), ttl, fetch, {}))

    async def _fresh_funding_intervals(self) -> dict[str, int] | None:
        fresh = await self._fetch_funding_intervals()
        if fresh:
            self._funding_empty_warned = False
            return fresh
        # Binance lists 150+ adjusted symbols; no usable row is a bad answer, not "every
        # symbol is back on 8h". Keep the last good copy and ask again next cycle.
        if not self._funding_empty_warned:
            self._funding_empty_warned = True
            logger.warning(
                "%s answered no usable row; %s",
                FUNDING_INFO,
                "keeping the cached intervals"
                if self._funding.value
                else "every symbol counts as 8h until it does",
            )
        return None

    async def _fetch_funding_intervals(self) -> dict[str, int]:
        """Symbol -> interval hours, from rows that parse.

        A symbol listed twice with different intervals takes its last row (Binance
        appends an adjustment), logged once per distinct conflict.
        """
        data = await self._client.get_json(FUNDING_INFO, weight=WEIGHT_FUNDING_INFO)
        if not isinstance(data, list):
            raise MalformedResponse(f"{FUNDING_INFO}: expected a list")
        intervals: dict[str, int] = {}
        conflicts: dict[str, list[int]] = {}
        for row in data:
            try:
                hours = to_int(row["fundingIntervalHours"])
                symbol = row["symbol"]
            except (ValueError, TypeError, KeyError):
                continue
            if not isinstance(symbol, str) or hours <= 0:
                continue
            seen = intervals.get(symbol)
            if seen is not None and seen != hours:
                conflicts.setdefault(symbol, [seen]).append(hours)
            intervals[symbol] = hours
        if conflicts:
            key = frozenset((s, tuple(h)) for s, h in conflicts.items())
            if key != self._funding_conflicts_logged:
                self._funding_conflicts_logged = key
                logger.warning(
                    "%s lists %d symbol(s) twice with different intervals; using the last row: %s",
                    FUNDING_INFO,
                    len(conflicts),
                    ", ".join(
                        f"{s} {'h, '.join(map(str, h))}h -> {h[-1]}h"
                        for s, h in sorted(conflicts.items())[:MAX_SYMBOLS_LOGGED]
                    ),
                )
        return intervals

    # Open interest.

    async def open_interest(self, symbol: str) -> OpenInterest:
        """Current OI in contracts. SymbolUnavailable if delisted, invalid or unparsable."""
        data = await self._per_symbol(
            symbol, OPEN_INTEREST, {"symbol": symbol}, WEIGHT_OPEN_INTEREST
        )
        try:
            contracts = number(data, "openInterest", minimum=0.0)
        except (ValueError, TypeError) as exc:
            raise SymbolUnavailable(f"{symbol}: unusable openInterest answer ({exc})") from None
        time_ms = int_or_none(data.get("time")) or int(self._clock() * 1000)
        return OpenInterest(symbol=symbol, contracts=contracts, time_ms=time_ms)

    async def open_interest_history(
        self, symbol: str, *, start_ms: int, end_ms: int
    ) -> list[OiPoint]:
        """5-minute OI samples within [start_ms, end_ms], oldest first.

        startTime is clamped to 29.5 days ago (older is an error at Binance). Raises
        HistoryBudgetExhausted when the endpoint's own budget is spent this 5 minutes.
        """
        start = max(start_ms, int(self._clock() * 1000) - HISTORY_MAX_AGE_MS)
        points: dict[int, float] = {}
        cursor = start
        while cursor <= end_ms:
            page_end = min(end_ms, cursor + HISTORY_PAGE_SPAN_MS - 1)
            params: dict[str, str | int] = {
                "symbol": symbol,
                "period": "5m",
                "limit": HISTORY_PAGE_LIMIT,
                "startTime": cursor,
                "endTime": page_end,
            }
            rows = await self._per_symbol(
                symbol, OPEN_INTEREST_HIST, params, WEIGHT_OPEN_INTEREST_HIST, history=True
            )
            if not isinstance(rows, list):
                raise SymbolUnavailable(f"{symbol}: {OPEN_INTEREST_HIST} did not answer a list")
            for row in rows:
                try:
                    at = to_int(row["timestamp"])
                    contracts = number(row, "sumOpenInterest", minimum=0.0)
                except (ValueError, TypeError, KeyError):
                    self.skipped_rows += 1
                    continue
                if start <= at <= end_ms:
                    points[at] = contracts
            cursor = page_end + 1
        return [OiPoint(time_ms=t, contracts=points[t]) for t in sorted(points)]

    async def _per_symbol(
        self,
        symbol: str,
        path: str,
        params: dict[str, str | int],
        weight: int,
        *,
        history: bool = False,
    ) -> Any:
        """GET a per-symbol endpoint; symbol-level failures become SymbolUnavailable."""
        try:
            return await self._client.get_json(path, params, weight=weight, history=history)
        except ExchangeApiError as exc:
            if exc.status in (400, 404) or exc.code == INVALID_SYMBOL:
                raise SymbolUnavailable(f"{symbol}: {exc.msg} (code {exc.code})") from None
            raise
        except MalformedResponse as exc:
            raise SymbolUnavailable(f"{symbol}: {exc}") from None
