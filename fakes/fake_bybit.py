"""A loopback fake of the Bybit v5 market endpoints pressurebot uses (linear category).

Real shapes (Bybit's v5 docs and ccxt's recorded responses): the envelope
`{"retCode", "retMsg", "result": {"category", "list", "nextPageCursor"}, "retExtInfo",
"time"}`, every number in `list` a string, `fundingInterval` an integer in minutes,
cursor-paged instruments and OI history (newest first), and OI counted on **both sides**
(`openInterest`), with `singleOpenInterest` beside it unless `single_oi=False`.
Long/short positioning: fakes/fake_positioning.py. Over 600 requests per 5 s, an IP
is banned with HTTP 403 for `ban_seconds`. Usage:

    async with FakeBybit(latency=0.025) as fake:
        fake.add_symbol("BTCUSDT", mark=50010, index=50000, funding_rate=0.0001, oi=80000)
        fake.fault("/v5/market/tickers", "ban")

`oi` is one side in coins; the fake serves `openInterest = 2 * oi`.
"""

from __future__ import annotations

import base64
import math
import random
from dataclasses import dataclass, field
from typing import Any, ClassVar

from aiohttp import web

from fakes import fake_positioning
from fakes.venue_fake import Fault, Number, VenueFake, fmt, priced, random_quote

INSTRUMENTS = "/v5/market/instruments-info"
TICKERS = "/v5/market/tickers"
OPEN_INTEREST = "/v5/market/open-interest"
ACCOUNT_RATIO = fake_positioning.BYBIT_ACCOUNT_RATIO

LIMIT_PER_5S = 600
BLOCK_PAGE = (
    b"<HTML><HEAD><TITLE>ERROR: The request could not be satisfied</TITLE></HEAD><BODY>"
    b"The Amazon CloudFront distribution is configured to block access from your country."
    b"</BODY></HTML>"
)


@dataclass
class BybitSymbol:
    symbol: str
    base: str
    quote: str
    mark: Number
    index: Number
    funding_rate: Number
    oi: Number  # one side, coins
    funding_interval_minutes: int = 480
    launch_ms: int = 1_585_526_400_000
    contract_type: str = "LinearPerpetual"
    status: str = "Trading"
    settle: str | None = None
    pre_listing: bool = False
    symbol_type: str = ""
    turnover: Number = 250_000_000.0
    listed: bool = True
    history: list[tuple[int, float]] = field(default_factory=list)  # one side, coins


class FakeBybit(VenueFake):
    PATHS = (INSTRUMENTS, TICKERS, OPEN_INTEREST, ACCOUNT_RATIO)
    DEFAULT_MISSING: ClassVar[dict[str, tuple[str, ...]]] = {
        INSTRUMENTS: ("quoteCoin",),
        TICKERS: ("markPrice",),
        OPEN_INTEREST: ("openInterest",),
        ACCOUNT_RATIO: ("buyRatio",),
    }

    def __init__(
        self,
        *,
        decoys: bool = True,
        single_oi: bool = True,
        page_max: int = 1000,
        ban_seconds: float = 600.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.symbols: dict[str, BybitSymbol] = {}
        self.single_oi = single_oi
        self.page_max = page_max  # the most rows a page holds, whatever `limit` asks
        self.ban_seconds = ban_seconds
        self.banned_until_ms = 0
        if decoys:
            self._add_decoys()

    # Market set-up.

    def add_symbol(
        self,
        symbol: str,
        *,
        mark: Number,
        index: Number,
        funding_rate: Number,
        oi: Number,
        funding_interval_hours: float = 8,
        quote: str = "USDT",
        **extra: Any,
    ) -> BybitSymbol:
        entry = BybitSymbol(
            symbol=symbol,
            base=symbol.removesuffix(quote),
            quote=quote,
            mark=mark,
            index=index,
            funding_rate=funding_rate,
            oi=oi,
            funding_interval_minutes=int(funding_interval_hours * 60),
            **extra,
        )
        self.symbols[symbol] = entry
        return entry

    def _random_symbol(self, i: int, rng: random.Random) -> tuple[str, float, float]:
        """About 20% on 4h funding, 5% on 1h and 5% on a 1000x multiplier (1000SYM...)."""
        name = f"SYM{i:04d}USDT" if rng.random() > 0.05 else f"1000SYM{i:04d}USDT"
        hours, index = random_quote(rng, (75, 20, 5))
        oi = math.exp(rng.uniform(math.log(1e4), math.log(1e9)))
        self.add_symbol(name, oi=oi, **priced(rng, index, hours))
        return name, oi, 1.0

    # Limits and errors.

    def _limited(self, path: str, params: dict[str, str]) -> web.Response | None:
        now = self.now_ms()
        if now < self.banned_until_ms or not self.take_slot("ip", LIMIT_PER_5S, 5_000):
            if now >= self.banned_until_ms:
                self.banned_until_ms = now + int(self.ban_seconds * 1000)
            return self._raw(b"access too frequent", 403, "text/plain")
        return None

    def _error_answer(self, path: str, fault: Fault) -> web.Response:
        if fault.kind == "5xx":
            return self._raw(b"<html>502 Bad Gateway</html>", fault.status, "text/html")
        if fault.kind == "ban":
            return self._raw(b"access too frequent", 403, "text/plain")
        if fault.kind == "geo":
            return self._raw(BLOCK_PAGE, fault.status, "text/html")
        if fault.kind == "rate_limit":
            return self._json(200, self._envelope(None, code=10006, msg="Too many visits!"))
        if fault.kind == "error_code":
            return self._json(200, self._envelope(None, code=10016, msg="Server error."))
        return self._json(200, self._envelope([]))  # "empty"

    def _envelope(
        self, rows: list[Any] | None, *, cursor: str = "", code: int = 0, msg: str = "OK"
    ) -> Any:
        result: dict[str, Any] = {}
        if rows is not None:
            result = {"category": "linear", "list": rows, "nextPageCursor": cursor}
        # ccxt's recordings carry retCode and time as strings; the docs as numbers.
        return {
            "retCode": code,
            "retMsg": msg,
            "result": result,
            "retExtInfo": {},
            "time": str(self.stamp()),
        }

    # Answers.

    def _answer(self, path: str, params: dict[str, str], row_faults: list[Fault]) -> Any:
        if params.get("category") != "linear":
            return 200, self._envelope(None, code=10001, msg="params error: category")
        gone = {f.symbol for f in row_faults if f.kind == "delisted"}
        symbol = params.get("symbol")
        if path == OPEN_INTEREST:
            entry = self.symbols.get(symbol or "")
            if entry is None or not entry.listed or symbol in gone or None in gone:
                return 200, self._envelope(None, code=10001, msg="params error: symbol invalid")
            return 200, self._history(entry, params, row_faults)
        if path == ACCOUNT_RATIO:
            return 200, self._account_ratio(symbol, gone, params, row_faults)
        listed = [s for s in self.symbols.values() if s.listed and s.symbol not in gone]
        if symbol is not None:
            listed = [s for s in listed if s.symbol == symbol]
        if path == INSTRUMENTS:
            rows = [self._instrument_row(s) for s in listed]
            page, cursor = self._page(rows, params, 500)
            self.drop_fields(page, row_faults, "symbol")
            return 200, self._envelope(page, cursor=cursor)
        rows = [self._ticker_row(s) for s in listed]
        self.drop_fields(rows, row_faults, "symbol")
        return 200, self._envelope(rows)

    def _account_ratio(
        self, symbol: str | None, gone: set[str | None], params: dict[str, str], faults: list[Fault]
    ) -> Any:
        entry = self.symbols.get(symbol or "")
        if entry is None or not entry.listed or symbol in gone or None in gone:
            return self._envelope(None, code=10001, msg="params error: symbol invalid")
        rows = fake_positioning.bybit(entry.symbol, self.ls_of(entry.symbol), params, self.stamp())
        if rows is None:
            return self._envelope(None, code=10001, msg="params error: period invalid")
        self.drop_fields(rows, faults, "symbol")
        return {**self._envelope(rows), "result": {"list": rows, "nextPageCursor": ""}}

    def _page(self, rows: list[Any], params: dict[str, str], default: int) -> tuple[list[Any], str]:
        limit = min(int(params.get("limit", default)), self.page_max)
        cursor = params.get("cursor", "")
        start = int(base64.b64decode(cursor).decode().split("=")[1]) if cursor else 0
        end = start + limit
        more = base64.b64encode(f"next={end}".encode()).decode() if end < len(rows) else ""
        return rows[start:end], more

    def _instrument_row(self, s: BybitSymbol) -> dict[str, Any]:
        return {
            "symbol": s.symbol,
            "contractType": s.contract_type,
            "status": s.status,
            "baseCoin": s.base,
            "quoteCoin": s.quote,
            "settleCoin": s.settle or s.quote,
            "launchTime": str(s.launch_ms),
            "deliveryTime": "0",
            "deliveryFeeRate": "",
            "priceScale": "2",
            "leverageFilter": {"minLeverage": "1", "maxLeverage": "100.00", "leverageStep": "0.01"},
            "priceFilter": {"minPrice": "0.10", "maxPrice": "199999.80", "tickSize": "0.10"},
            "lotSizeFilter": {
                "maxOrderQty": "1190.000",
                "minOrderQty": "0.001",
                "qtyStep": "0.001",
            },
            "unifiedMarginTrade": True,
            "fundingInterval": s.funding_interval_minutes,  # an integer, in minutes
            "copyTrading": "both",
            "upperFundingRate": "0.00375",
            "lowerFundingRate": "-0.00375",
            "isPreListing": s.pre_listing,
            "preListingInfo": None,
            "symbolType": s.symbol_type,
        }

    def _ticker_row(self, s: BybitSymbol) -> dict[str, Any]:
        interval_ms = s.funding_interval_minutes * 60_000
        both = float(s.oi) * 2 if not isinstance(s.oi, str) else None
        mark = float(s.mark) if not isinstance(s.mark, str) else 0.0
        row: dict[str, Any] = {
            "symbol": s.symbol,
            "lastPrice": fmt(s.mark),
            "indexPrice": fmt(s.index),
            "markPrice": fmt(s.mark),
            "prevPrice24h": fmt(s.mark),
            "price24hPcnt": "0.000000",
            "highPrice24h": fmt(s.mark),
            "lowPrice24h": fmt(s.mark),
            "prevPrice1h": fmt(s.mark),
            "openInterest": fmt(both) if both is not None else s.oi,
            "openInterestValue": fmt(both * mark) if both is not None else "",
            "turnover24h": fmt(s.turnover),
            "volume24h": "1000.0000",
            "fundingRate": fmt(s.funding_rate),
            "nextFundingTime": str((self.stamp() // interval_ms + 1) * interval_ms),
            "fundingIntervalHour": str(s.funding_interval_minutes // 60),
            "predictedDeliveryPrice": "",
            "basisRate": "",
            "deliveryFeeRate": "",
            "deliveryTime": "0",
            "ask1Size": "1.0",
            "bid1Price": fmt(s.mark),
            "ask1Price": fmt(s.mark),
            "bid1Size": "1.0",
            "basis": "",  # empty for perpetuals
        }
        if self.single_oi and both is not None:
            row["singleOpenInterest"] = fmt(both / 2)
            row["singleOpenInterestValue"] = fmt(both / 2 * mark)
        return row

    def _history(self, s: BybitSymbol, params: dict[str, str], row_faults: list[Fault]) -> Any:
        if params.get("intervalTime") != "5min":
            return self._envelope(None, code=10001, msg="params error: intervalTime")
        start = int(params.get("startTime", 0))
        end = int(params.get("endTime", self.now_ms()))
        limit = int(params.get("limit", 50))
        if not 1 <= limit <= 200:
            return self._envelope(None, code=10001, msg="params error: limit")
        newest_first = [p for p in reversed(s.history) if start <= p[0] <= end]
        rows = []
        for t, oi in newest_first:
            row = {"openInterest": fmt(oi * 2), "timestamp": str(t)}
            if self.single_oi:
                row["singleOpenInterest"] = fmt(oi)
            rows.append(row)
        page, cursor = self._page(rows, params, 50)
        self.drop_fields(page, row_faults, "symbol")
        body = self._envelope(page, cursor=cursor)
        body["result"]["symbol"] = s.symbol
        return body

    def _add_decoys(self) -> None:
        """Instruments the universe filter must drop."""
        common: dict[str, Any] = {
            "mark": 50_500.0,
            "index": 50_000.0,
            "funding_rate": 0.0,
            "oi": 1_000.0,
        }
        self.add_symbol("BTC-27MAR26", contract_type="LinearFutures", **common)
        self.add_symbol("BTCPERP", quote="USDC", **common)
        self.add_symbol("OLDUSDT", status="Closed", **common)
        self.add_symbol("NEWUSDT", status="PreLaunch", pre_listing=True, **common)
        self.add_symbol("AAPLXUSDT", symbol_type="xstocks", **common)
