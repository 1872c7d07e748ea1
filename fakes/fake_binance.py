"""A loopback fake of the Binance USDⓈ-M REST endpoints pressurebot uses.

Payloads have the real shapes: prices, rates and OI are strings, times are integer ms,
openInterestHist `timestamp` alternates between int and string. It enforces the
2400/min request weight (429 + Retry-After), sets X-MBX-USED-WEIGHT-1M on every
answer, limits the /futures/data family (openInterestHist and the long/short ratios of
fakes/fake_positioning.py) to 1000 calls per 5 min together, and injects the faults of
the shared menu (fakes/venue_fake.py) in Binance's words. Usage:

    async with FakeBinance(latency=0.025) as fake:
        fake.add_symbol("BTCUSDT", mark=50010, index=50000, funding_rate=0.0001, oi=80000)
        fake.fault("/fapi/v1/openInterest", "5xx", times=2, symbol="BTCUSDT")
        settings = ExchangeSettings(base_url=fake.url)
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Any, ClassVar

from aiohttp import web

from fakes import fake_positioning
from fakes.venue_fake import Fault, Number, VenueFake, fmt, priced, random_quote

EXCHANGE_INFO = "/fapi/v1/exchangeInfo"
PREMIUM_INDEX = "/fapi/v1/premiumIndex"
FUNDING_INFO = "/fapi/v1/fundingInfo"
OPEN_INTEREST = "/fapi/v1/openInterest"
OPEN_INTEREST_HIST = "/futures/data/openInterestHist"
TICKER_24H = "/fapi/v1/ticker/24hr"
FUTURES_DATA = "/futures/data/"  # one 1000-per-5-min budget for the whole family

# (weight without symbol, weight with symbol), from Binance's docs.
WEIGHTS: dict[str, tuple[int, int]] = {
    EXCHANGE_INFO: (1, 1),
    PREMIUM_INDEX: (10, 1),
    FUNDING_INFO: (0, 0),
    OPEN_INTEREST: (1, 1),
    OPEN_INTEREST_HIST: (0, 0),
    TICKER_24H: (40, 1),
    fake_positioning.BINANCE_GLOBAL: (0, 0),
    fake_positioning.BINANCE_TOP: (0, 0),
}
# The field a "missing_fields" fault drops by default.
DEFAULT_MISSING: dict[str, tuple[str, ...]] = {
    EXCHANGE_INFO: ("quoteAsset",),
    PREMIUM_INDEX: ("markPrice",),
    FUNDING_INFO: ("fundingIntervalHours",),
    OPEN_INTEREST: ("openInterest",),
    OPEN_INTEREST_HIST: ("sumOpenInterest",),
    TICKER_24H: ("quoteVolume",),
    fake_positioning.BINANCE_GLOBAL: ("longShortRatio",),
    fake_positioning.BINANCE_TOP: ("longShortRatio",),
}
HISTORY_LIMIT_PER_5M = 1000
HISTORY_MAX_AGE_MS = 30 * 86_400_000
PERPETUAL_DELIVERY_MS = 4_133_404_800_000  # 2100-12-25, what Binance sends for perpetuals


@dataclass
class FakeSymbol:
    symbol: str
    base_asset: str
    quote_asset: str
    mark: Number
    index: Number
    funding_rate: Number
    oi: Number
    funding_interval_hours: int = 8
    onboard_ms: int = 1_569_398_400_000
    contract_type: str = "PERPETUAL"
    status: str = "TRADING"
    quote_volume: Number = 250_000_000.0
    listed: bool = True  # False once delisted: gone from market data, -1121 per symbol
    in_exchange_info: bool = True
    history: list[tuple[int, float]] = field(default_factory=list)


def _error(status: int, code: int, msg: str) -> tuple[int, Any]:
    return status, {"code": code, "msg": msg}


class FakeBinance(VenueFake):
    PATHS = tuple(WEIGHTS)
    DEFAULT_MISSING: ClassVar[dict[str, tuple[str, ...]]] = DEFAULT_MISSING
    MALFORMED = b'{"symbol":"BTCUSDT","markPrice":"5'
    DEFAULT_RETRY_AFTER: ClassVar[dict[str, float]] = {"rate_limit": 1.0, "ban": 120.0}

    def __init__(self, *, weight_limit: int = 2400, decoys: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # Extra fundingInfo rows (symbol, hours), served after the regular ones.
        self.extra_funding_rows: list[tuple[str, int]] = []
        self.weight_limit = weight_limit
        self.symbols: dict[str, FakeSymbol] = {}
        self.total_weight = 0
        self.rejected_429 = 0
        self._minute = -1
        self._minute_used = 0
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
        funding_interval_hours: int = 8,
        onboard_ms: int | None = None,
        quote: str = "USDT",
        contract_type: str = "PERPETUAL",
        status: str = "TRADING",
        quote_volume: Number = 250_000_000.0,
    ) -> FakeSymbol:
        base = symbol[: -len(quote)] if symbol.endswith(quote) else symbol.split("_")[0]
        entry = FakeSymbol(
            symbol=symbol,
            base_asset=base,
            quote_asset=quote,
            mark=mark,
            index=index,
            funding_rate=funding_rate,
            oi=oi,
            funding_interval_hours=funding_interval_hours,
            contract_type=contract_type,
            status=status,
            quote_volume=quote_volume,
        )
        if onboard_ms is not None:
            entry.onboard_ms = onboard_ms
        self.symbols[symbol] = entry
        return entry

    def delist(self, symbol: str, *, keep_in_exchange_info: bool = True) -> None:
        """Gone from market data (per-symbol calls answer -1121); exchangeInfo may lag."""
        super().delist(symbol)
        self.symbols[symbol].in_exchange_info = keep_in_exchange_info

    def _random_symbol(self, i: int, rng: random.Random) -> tuple[str, float, float]:
        """USDT perpetuals SYM0000USDT...: about 17% on 4h funding and 3% on 1h."""
        name = f"SYM{i:04d}USDT"
        hours, index = random_quote(rng, (80, 17, 3))
        oi = math.exp(rng.uniform(math.log(1e4), math.log(1e9)))
        onboard = 1_600_000_000_000 + i * 86_400_000
        self.add_symbol(name, oi=oi, onboard_ms=onboard, **priced(rng, index, hours))
        return name, oi, 1.0

    def add_external_weight(self, weight: int) -> None:
        """Weight spent this minute by someone else on the same IP."""
        self._roll_minute()
        self._minute_used += weight

    def minute_weight(self) -> int:
        self._roll_minute()
        return self._minute_used

    def reset_counters(self) -> None:
        super().reset_counters()
        self.total_weight = 0
        self.rejected_429 = 0

    # Limits and errors.

    def _limited(self, path: str, params: dict[str, str]) -> web.Response | None:
        """Over the weight per minute, or the /futures/data calls per 5 min: a 429."""
        weight = WEIGHTS[path][1 if params.get("symbol") else 0]
        self._roll_minute()
        if self._minute_used + weight > self.weight_limit:
            return self._rate_limited(429, math.ceil(60 - (self.now_ms() % 60_000) / 1000))
        if path.startswith(FUTURES_DATA) and not self.take_slot(
            "history", HISTORY_LIMIT_PER_5M, 300_000
        ):
            return self._rate_limited(429, 60, per="5 MINUTE", limit=HISTORY_LIMIT_PER_5M)
        self._minute_used += weight
        self.total_weight += weight
        return None

    def _error_answer(self, path: str, fault: Fault) -> web.Response:
        if fault.kind == "rate_limit":
            return self._rate_limited(429, fault.retry_after)
        if fault.kind == "ban":
            return self._rate_limited(418, fault.retry_after)
        if fault.kind == "geo":
            msg = "Service unavailable from a restricted location according to 'b. Eligibility'"
            return self._json(fault.status, {"code": 0, "msg": msg})
        if fault.kind == "5xx":
            return self._json(fault.status, {"code": -1001, "msg": "Internal error."})
        if fault.kind == "error_code":
            return self._json(400, {"code": -1000, "msg": "An unknown error occured."})
        empty: Any = self._exchange_info(self.now_ms()) if path == EXCHANGE_INFO else []
        if isinstance(empty, dict):
            empty["symbols"] = []
        return self._json(200, empty)  # "empty"

    def _no_route(self, path: str) -> web.Response:
        return self._json(404, {"code": -5000, "msg": f"Path {path}, Method GET is invalid"})

    def _headers(self) -> dict[str, str]:
        return {"X-MBX-USED-WEIGHT-1M": str(self.minute_weight())}

    # Answers.

    def _answer(self, path: str, params: dict[str, str], row_faults: list[Fault]) -> Any:
        symbol = params.get("symbol")
        delisted = {f.symbol for f in row_faults if f.kind == "delisted"}
        if symbol is not None:
            entry = self.symbols.get(symbol)
            if entry is None or not entry.listed or symbol in delisted or None in delisted:
                return _error(400, -1121, "Invalid symbol.")
        elif path in (OPEN_INTEREST, OPEN_INTEREST_HIST) or path.startswith(FUTURES_DATA):
            return _error(400, -1102, "Mandatory parameter 'symbol' was not sent.")
        if path == OPEN_INTEREST_HIST:
            status, body = self._history(params)
        elif path.startswith(FUTURES_DATA):
            ls = self.ls_of(symbol or "")
            status, body = fake_positioning.binance(symbol or "", ls, path, params, self.stamp())
        else:
            status, body = 200, self._build(path, symbol)
        if path != EXCHANGE_INFO and symbol is None and isinstance(body, list):
            body = [row for row in body if row.get("symbol") not in delisted]
        for fault in (f for f in row_faults if f.kind == "missing_fields"):
            rows = body["symbols"] if path == EXCHANGE_INFO else body
            for row in rows if isinstance(rows, list) else [rows]:
                if fault.symbol is None or row.get("symbol") == fault.symbol:
                    for name in fault.fields:
                        row.pop(name, None)
        return status, body

    def _build(self, path: str, symbol: str | None) -> Any:
        now = self.now_ms() + self.stamp_lag_ms
        if path == EXCHANGE_INFO:
            return self._exchange_info(now)
        if path == FUNDING_INFO:
            rows = [
                self._funding_row(s)
                for s in self._listed()
                if s.funding_interval_hours != 8 or s.symbol == "GTCUSDT"
            ]
            for name, hours in self.extra_funding_rows:
                row = self._funding_row(self.symbols[name])
                row["fundingIntervalHours"] = hours
                rows.append(row)
            return rows
        build = {
            PREMIUM_INDEX: self._premium_row,
            OPEN_INTEREST: self._oi_row,
            TICKER_24H: self._ticker_row,
        }[path]
        if symbol is not None:
            return build(self.symbols[symbol], now)
        return [build(s, now) for s in self._listed()]

    def _listed(self) -> list[FakeSymbol]:
        return [s for s in self.symbols.values() if s.listed]

    def _exchange_info(self, now: int) -> dict[str, Any]:
        return {
            "timezone": "UTC",
            "serverTime": now,
            "futuresType": "U_MARGINED",
            "rateLimits": [
                {
                    "rateLimitType": "REQUEST_WEIGHT",
                    "interval": "MINUTE",
                    "intervalNum": 1,
                    "limit": self.weight_limit,
                },
                {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 1200},
            ],
            "exchangeFilters": [],
            "assets": [{"asset": "USDT", "marginAvailable": True, "autoAssetExchange": "-10000"}],
            "symbols": [self._info_row(s) for s in self.symbols.values() if s.in_exchange_info],
        }

    @staticmethod
    def _info_row(s: FakeSymbol) -> dict[str, Any]:
        perpetual = s.contract_type == "PERPETUAL"
        return {
            "symbol": s.symbol,
            "pair": s.base_asset + s.quote_asset,
            "contractType": s.contract_type,
            "deliveryDate": PERPETUAL_DELIVERY_MS if perpetual else 1_774_598_400_000,
            "onboardDate": s.onboard_ms,
            "status": s.status,
            "maintMarginPercent": "2.5000",
            "requiredMarginPercent": "5.0000",
            "baseAsset": s.base_asset,
            "quoteAsset": s.quote_asset,
            "marginAsset": s.quote_asset,
            "pricePrecision": 2,
            "quantityPrecision": 3,
            "baseAssetPrecision": 8,
            "quotePrecision": 8,
            "underlyingType": "COIN",
            "underlyingSubType": ["PoW"],
            "triggerProtect": "0.0500",
            "liquidationFee": "0.012500",
            "marketTakeBound": "0.05",
            "maxMoveOrderLimit": 10000,
            "filters": [
                {
                    "filterType": "PRICE_FILTER",
                    "minPrice": "0.10",
                    "maxPrice": "4529764",
                    "tickSize": "0.10",
                }
            ],
            "orderTypes": ["LIMIT", "MARKET", "STOP", "TAKE_PROFIT"],
            "timeInForce": ["GTC", "IOC", "FOK", "GTX"],
        }

    @staticmethod
    def _premium_row(s: FakeSymbol, now: int) -> dict[str, Any]:
        perpetual = s.contract_type == "PERPETUAL"
        interval_ms = s.funding_interval_hours * 3_600_000
        return {
            "symbol": s.symbol,
            "markPrice": fmt(s.mark),
            "indexPrice": fmt(s.index),
            "estimatedSettlePrice": fmt(s.index),
            # Delivery contracts really do send empty strings here.
            "lastFundingRate": fmt(s.funding_rate) if perpetual else "",
            "interestRate": "0.00010000" if perpetual else "",
            "nextFundingTime": (now // interval_ms + 1) * interval_ms if perpetual else 0,
            "time": now,
        }

    @staticmethod
    def _oi_row(s: FakeSymbol, now: int) -> dict[str, Any]:
        return {"openInterest": fmt(s.oi), "symbol": s.symbol, "time": now}

    @staticmethod
    def _ticker_row(s: FakeSymbol, now: int) -> dict[str, Any]:
        return {
            "symbol": s.symbol,
            "priceChange": "0.00",
            "priceChangePercent": "0.000",
            "weightedAvgPrice": fmt(s.mark),
            "lastPrice": fmt(s.mark),
            "lastQty": "1.000",
            "openPrice": fmt(s.mark),
            "highPrice": fmt(s.mark),
            "lowPrice": fmt(s.mark),
            "volume": "1000.000",
            "quoteVolume": fmt(s.quote_volume),
            "openTime": now - 86_400_000,
            "closeTime": now,
            "firstId": 1,
            "lastId": 1000,
            "count": 1000,
        }

    @staticmethod
    def _funding_row(s: FakeSymbol) -> dict[str, Any]:
        return {
            "symbol": s.symbol,
            "adjustedFundingRateCap": "0.02000000",
            "adjustedFundingRateFloor": "-0.02000000",
            "fundingIntervalHours": s.funding_interval_hours,
            "disclaimer": False,
        }

    def _history(self, params: dict[str, str]) -> tuple[int, Any]:
        entry = self.symbols[params["symbol"]]
        if params.get("period") != "5m":
            return _error(400, -1120, "Invalid interval.")
        try:
            limit = int(params.get("limit", 30))
            start = int(params["startTime"]) if "startTime" in params else None
            end = int(params.get("endTime", self.now_ms()))
        except ValueError:
            return _error(400, -1100, "Illegal characters found in a parameter.")
        if not 1 <= limit <= 500:
            return _error(400, -1130, "Data sent for parameter 'limit' is not valid.")
        if start is not None and start < self.now_ms() - HISTORY_MAX_AGE_MS:
            return _error(400, -1130, "Data sent for paramter 'startTime' is not valid.")
        rows = [p for p in entry.history if (start is None or p[0] >= start) and p[0] <= end]
        rows = rows[:limit] if start is not None else rows[-limit:]
        mark = float(entry.mark) if not isinstance(entry.mark, str) else 1.0
        return 200, [
            {
                "symbol": entry.symbol,
                "sumOpenInterest": fmt(oi),
                "sumOpenInterestValue": fmt(oi * mark),
                "timestamp": str(t) if i % 2 else t,
            }  # both shapes occur in the wild
            for i, (t, oi) in enumerate(rows)
        ]

    # Plumbing.

    def _roll_minute(self) -> None:
        minute = self.now_ms() // 60_000
        if minute != self._minute:
            self._minute, self._minute_used = minute, 0

    def _rate_limited(
        self, status: int, retry_after: float, per: str = "", limit: int = 0
    ) -> web.Response:
        self.rejected_429 += status == 429
        msg = (
            "Too many requests; current limit of IP request weight per minute is "
            f"{self.weight_limit}."
            if status == 429
            else "Way too many requests; IP banned."
        )
        if per:  # Binance's -1003 wording for a request-count limit (/futures/data)
            msg = (
                f"Too much request weight used; current limit is {limit} request weight "
                f"per {per}. Please use WebSocket Streams for live updates to avoid polling "
                "the API."
            )
        response = self._json(status, {"code": -1003, "msg": msg})
        response.headers["Retry-After"] = f"{retry_after:g}"
        return response

    def _add_decoys(self) -> None:
        """Instruments the universe filter must drop, as real exchangeInfo has them."""
        self.add_symbol(
            "BTCUSDT_260327",
            mark=50_500.0,
            index=50_000.0,
            funding_rate=0.0,
            oi=1_000.0,
            contract_type="CURRENT_QUARTER",
        )
        self.add_symbol(
            "OLDUSDT", mark=1.0, index=1.0, funding_rate=0.0001, oi=10.0, status="SETTLING"
        )
        self.add_symbol(
            "BTCUSDC", mark=50_010.0, index=50_000.0, funding_rate=0.0001, oi=5_000.0, quote="USDC"
        )
        self.add_symbol(
            "GTCUSDT", mark=0.5, index=0.5, funding_rate=0.0001, oi=1e6, status="SETTLING"
        )  # listed in fundingInfo with 8h
