"""OKX v5 USDT-margined perpetual swaps: fetch and parse, nothing else.

Endpoints, limits and error codes are in okx_constants.py, with their sources. What the
parsing relies on:
- Every answer is `{"code": "0", "msg": "", "data": [...]}` and every value a string.
- OI comes in contracts (`oi`); a contract is `ctVal` coins (0.01 BTC for BTC-USDT-SWAP).
  We report `oi * ctVal` (one side, like Binance), falling back to `oiCcy`.
- `fundingRate` is the rate of the coming settlement at `fundingTime`; the next one
  follows at `nextFundingTime`, so the interval is their difference (OKX moves some
  symbols from 8h to 4h, 2h or 1h).
- A swap's index is keyed by its underlying (`uly`, "BTC-USDT") in index-tickers.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
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
from bot.markets.number_fields import hours_from_ms, int_or_none, number, to_int
from bot.markets.okx_constants import (
    FUNDING_RATE,
    HISTORY_MAX_PAGES,
    HISTORY_PAGE,
    INDEX_TICKERS,
    INSTRUMENTS,
    LIMITS,
    MARK_PRICE,
    OI_HISTORY,
    OPEN_INTEREST,
    SYMBOL_ERRORS,
    TICKERS,
)
from bot.markets.rest_client import RestClient
from bot.markets.rest_errors import ExchangeApiError
from bot.markets.ttl_cache import TtlCache

logger = logging.getLogger(__name__)


def make_client(
    settings: ExchangeSettings, base_url: str | None = None, **kwargs: Any
) -> RestClient:
    """A client for OKX at `base_url` (default `exchange.okx_base_url`), with
    `settings`' concurrency, timeout and retries."""
    return RestClient(settings, LIMITS, base_url=base_url or settings.okx_base_url, **kwargs)


def data_rows(url: str, body: Any) -> list[Any]:
    """The envelope's `data`; a code other than "0" raises ExchangeApiError."""
    if not isinstance(body, dict) or "code" not in body:
        raise MalformedResponse(f"{url}: expected an object with a code")
    code = int_or_none(body.get("code"))
    if code != 0:
        raise ExchangeApiError(url, 200, code, str(body.get("msg", "")))
    rows = body.get("data")
    if not isinstance(rows, list):
        raise MalformedResponse(f"{url}: no data list")
    return rows


@dataclass(frozen=True, slots=True)
class _Swap:
    contract_size: float  # ctVal: coins per contract
    underlying: str  # uly: the index-tickers key


@dataclass(frozen=True, slots=True)
class _Funding:
    rate: float
    interval_hours: int | None


class OkxAdapter(ClientCounters):
    """The ExchangeAdapter (and BulkOpenInterest) for OKX USDT perpetual swaps."""

    name = "okx"
    history_label = "okx open-interest-history"

    def __init__(
        self,
        client: RestClient,
        settings: ExchangeSettings,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self._settings = settings
        self._clock = clock
        self._universe: TtlCache[list[Instrument]] = TtlCache("okx instruments")
        self._swaps: dict[str, _Swap] = {}
        self._oi = Snapshot(self._fetch_oi, clock)
        self._marks = Snapshot(self._fetch_marks, clock)
        self._indexes = Snapshot(self._fetch_indexes, clock)
        self._funding = Snapshot(self._fetch_funding, clock)
        self.last_skipped: list[str] = []
        self.skipped_rows = 0

    # Universe.

    async def universe(self) -> list[Instrument]:
        """Live linear USDT perpetual swaps on crypto (instCategory 1), by instId."""
        ttl = self._settings.universe_ttl_seconds
        return list(await self._universe.get(self._clock(), ttl, self._fetch_universe, []))

    async def contract_sizes(self) -> dict[str, float]:
        """instId -> ctVal (coins per contract) of the swaps in the universe: what the
        liquidation stream multiplies its contract sizes by."""
        await self.universe()
        return {symbol: swap.contract_size for symbol, swap in self._swaps.items()}

    async def _fetch_universe(self) -> list[Instrument]:
        body = await self._client.get_json(INSTRUMENTS, {"instType": "SWAP"}, weight=1)
        found: list[Instrument] = []
        swaps: dict[str, _Swap] = {}
        for row in data_rows(INSTRUMENTS, body):
            parsed = self._instrument(row)
            if parsed is not None:
                found.append(parsed[0])
                swaps[parsed[0].symbol] = parsed[1]
        if not found:
            raise MalformedResponse(f"{INSTRUMENTS}: no live USDT perpetual swaps")
        self._swaps = swaps
        if self._settings.min_quote_volume_usd > 0:
            volumes = await self._volumes_usd()
            floor = self._settings.min_quote_volume_usd
            found = [i for i in found if volumes.get(i.symbol, 0.0) >= floor]
        return sorted(found, key=lambda i: i.symbol)

    async def _volumes_usd(self) -> dict[str, float]:
        """24h volume in USD per swap: volCcy24h (coins) x last price."""
        volumes: dict[str, float] = {}
        for row in await self._rows(TICKERS, {"instType": "SWAP"}):
            try:
                coins = number(row, "volCcy24h", minimum=0.0)
                volumes[str(row["instId"])] = coins * number(row, "last", minimum=0.0)
            except (ValueError, TypeError, KeyError):
                continue  # no volume figure: the swap falls under the floor
        return volumes

    def _instrument(self, row: Any) -> tuple[Instrument, _Swap] | None:
        quotes = set(self._settings.quote_assets)
        if (
            not isinstance(row, dict)
            or not isinstance(row.get("instId"), str)
            or row.get("ctType") != "linear"
            or row.get("settleCcy") not in quotes
            or row.get("state") != "live"
            or row.get("ruleType", "normal") != "normal"
            or str(row.get("instCategory", "1")) != "1"
            or not row.get("ctValCcy")
        ):
            return None
        try:
            size = number(row, "ctVal", minimum=0.0, strict=True)
        except (ValueError, TypeError):
            return None
        inst_id = row["instId"]
        instrument = Instrument(
            exchange=self.name,
            symbol=inst_id,
            base_asset=str(row["ctValCcy"]),  # quoteCcy is empty for swaps
            quote_asset=str(row["settleCcy"]),
            onboard_ms=int_or_none(row.get("listTime")),
        )
        underlying = str(row.get("uly") or inst_id.removesuffix("-SWAP"))
        return instrument, _Swap(contract_size=size, underlying=underlying)

    # Bulk figures: four calls per cycle, each shared by the methods that need it.

    async def premium_index(self) -> dict[str, PremiumIndex]:
        """Mark, index and the coming settlement's funding rate, for every swap with all three."""
        marks, indexes, funding = await asyncio.gather(
            self._marks.get(), self._indexes.get(), self._funding.get()
        )
        result: dict[str, PremiumIndex] = {}
        skipped: list[str] = []
        for symbol, (mark, at) in marks.items():
            index = indexes.get(self._underlying(symbol))
            rate = funding.get(symbol)
            if index is None or rate is None:
                if symbol in self._swaps:
                    skipped.append(symbol)
                continue
            # `fundingRate` is OKX's prediction for the coming settlement: the funding
            # the score reads, and the predicted rate a rule can name (`funding_next_8h`).
            result[symbol] = PremiumIndex(symbol, mark, index, rate.rate, at, rate.rate)
        self.last_skipped = skipped
        self.skipped_rows += len(skipped)
        if skipped:
            logger.warning(
                "okx: %d swap(s) lack an index or funding row: %s",
                len(skipped),
                ", ".join(skipped[:20]),
            )
        return result

    async def open_interest_all(self) -> dict[str, OpenInterest]:
        """Every swap's OI, one side, in base-coin units (contracts x ctVal)."""
        return dict(await self._oi.get())

    async def open_interest(self, symbol: str) -> OpenInterest:
        found = (await self._oi.get()).get(symbol)
        if found is None:
            raise SymbolUnavailable(f"{symbol}: not in okx open-interest")
        return found

    async def funding_intervals(self) -> dict[str, int]:
        """Hours per funding interval, per swap, from this cycle's funding-rate answer."""
        funding = await self._funding.get()
        return {s: f.interval_hours for s, f in funding.items() if f.interval_hours is not None}

    def _underlying(self, symbol: str) -> str:
        swap = self._swaps.get(symbol)
        return swap.underlying if swap is not None else symbol.removesuffix("-SWAP")

    async def _rows(self, path: str, params: dict[str, str]) -> list[Any]:
        return data_rows(path, await self._client.get_json(path, params, weight=1))

    async def _fetch_oi(self) -> dict[str, OpenInterest]:
        now_ms = int(self._clock() * 1000)
        result: dict[str, OpenInterest] = {}
        for row in await self._rows(OPEN_INTEREST, {"instType": "SWAP"}):
            symbol = row.get("instId") if isinstance(row, dict) else None
            if not isinstance(symbol, str):
                continue
            swap = self._swaps.get(symbol)
            try:
                if swap is not None:
                    coins = number(row, "oi", minimum=0.0) * swap.contract_size
                else:
                    coins = number(row, "oiCcy", minimum=0.0)
            except (ValueError, TypeError):
                self.skipped_rows += 1
                continue
            at = int_or_none(row.get("ts")) or now_ms
            result[symbol] = OpenInterest(symbol=symbol, contracts=coins, time_ms=at)
        return result

    async def _fetch_marks(self) -> dict[str, tuple[float, int]]:
        now_ms = int(self._clock() * 1000)
        result: dict[str, tuple[float, int]] = {}
        for row in await self._rows(MARK_PRICE, {"instType": "SWAP"}):
            try:
                mark = number(row, "markPx", minimum=0.0, strict=True)
                result[str(row["instId"])] = (mark, int_or_none(row.get("ts")) or now_ms)
            except (ValueError, TypeError, KeyError):
                self.skipped_rows += 1
        return result

    async def _fetch_indexes(self) -> dict[str, float]:
        result: dict[str, float] = {}
        for quote in self._settings.quote_assets:
            for row in await self._rows(INDEX_TICKERS, {"quoteCcy": quote}):
                try:
                    result[str(row["instId"])] = number(row, "idxPx", minimum=0.0, strict=True)
                except (ValueError, TypeError, KeyError):
                    self.skipped_rows += 1
        return result

    async def _fetch_funding(self) -> dict[str, _Funding]:
        result: dict[str, _Funding] = {}
        for row in await self._rows(FUNDING_RATE, {"instId": "ANY"}):
            try:
                rate = number(row, "fundingRate")
                symbol = str(row["instId"])
            except (ValueError, TypeError, KeyError):
                self.skipped_rows += 1
                continue
            settle = int_or_none(row.get("fundingTime"))
            following = int_or_none(row.get("nextFundingTime"))
            hours = None
            if settle is not None and following is not None:
                hours = hours_from_ms(following - settle)
            result[symbol] = _Funding(rate=rate, interval_hours=hours)
        return result

    # History, for backfill only.

    async def open_interest_history(
        self, symbol: str, *, start_ms: int, end_ms: int
    ) -> list[OiPoint]:
        """5-minute OI samples (coins, one side) within [start_ms, end_ms], oldest first.

        OKX keeps the latest 1,440 rows (5 days at 5 min) and pages backwards from `end`.
        Whether `begin`/`end` include their own row is not documented: each page asks
        from one millisecond beyond, and the next page ends at the oldest row seen (a
        repeat at most, dropped by timestamp).
        """
        points: dict[int, float] = {}
        end = end_ms + 1
        for _ in range(HISTORY_MAX_PAGES):
            rows = await self._history_page(symbol, start_ms - 1, end)
            swap = self._swaps.get(symbol)
            oldest = end
            for row in rows:
                try:
                    at = to_int(row[0])
                    # Contracts x ctVal, as live; oiCcy (already coins) before the universe.
                    coins = float(row[1]) * swap.contract_size if swap else float(row[2])
                except (ValueError, TypeError, IndexError, KeyError):
                    self.skipped_rows += 1
                    continue
                oldest = min(oldest, at)
                if start_ms <= at <= end_ms and coins >= 0:
                    points[at] = coins
            if len(rows) < HISTORY_PAGE or oldest <= start_ms or oldest >= end:
                break
            end = oldest
        return [OiPoint(time_ms=t, contracts=points[t]) for t in sorted(points)]

    async def _history_page(self, symbol: str, begin: int, end: int) -> list[Any]:
        params: dict[str, str | int] = {
            "instId": symbol,
            "period": "5m",
            "begin": begin,
            "end": end,
            "limit": HISTORY_PAGE,
        }
        try:
            body = await self._client.get_json(OI_HISTORY, params, weight=1, history=True)
            return data_rows(OI_HISTORY, body)
        except ExchangeApiError as exc:
            if exc.code in SYMBOL_ERRORS or exc.status in (400, 404):
                raise SymbolUnavailable(f"{symbol}: {exc.msg} (code {exc.code})") from None
            raise
        except MalformedResponse as exc:
            raise SymbolUnavailable(f"{symbol}: {exc}") from None
