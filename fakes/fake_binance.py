"""A loopback fake of the Binance USDⓈ-M REST endpoints pressurebot uses.

Payloads have the real shapes: prices, rates and OI are strings, times are integer ms,
openInterestHist `timestamp` alternates between int and string. It enforces the
2400/min request weight (429 + Retry-After), sets X-MBX-USED-WEIGHT-1M on every
answer, and injects scoped faults. Usage:

    async with FakeBinance(latency=0.025) as fake:
        fake.add_symbol("BTCUSDT", mark=50010, index=50000, funding_rate=0.0001, oi=80000)
        fake.fault("/fapi/v1/openInterest", "5xx", times=2, symbol="BTCUSDT")
        settings = ExchangeSettings(base_url=fake.url)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import random
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

EXCHANGE_INFO = "/fapi/v1/exchangeInfo"
PREMIUM_INDEX = "/fapi/v1/premiumIndex"
FUNDING_INFO = "/fapi/v1/fundingInfo"
OPEN_INTEREST = "/fapi/v1/openInterest"
OPEN_INTEREST_HIST = "/futures/data/openInterestHist"
TICKER_24H = "/fapi/v1/ticker/24hr"

# (weight without symbol, weight with symbol), from Binance's docs.
WEIGHTS: dict[str, tuple[int, int]] = {
    EXCHANGE_INFO: (1, 1),
    PREMIUM_INDEX: (10, 1),
    FUNDING_INFO: (0, 0),
    OPEN_INTEREST: (1, 1),
    OPEN_INTEREST_HIST: (0, 0),
    TICKER_24H: (40, 1),
}
# The field a "missing_fields" fault drops by default.
DEFAULT_MISSING: dict[str, tuple[str, ...]] = {
    EXCHANGE_INFO: ("quoteAsset",),
    PREMIUM_INDEX: ("markPrice",),
    FUNDING_INFO: ("fundingIntervalHours",),
    OPEN_INTEREST: ("openInterest",),
    OPEN_INTEREST_HIST: ("sumOpenInterest",),
    TICKER_24H: ("quoteVolume",),
}
# "empty": a 200 with nothing in it ([] or exchangeInfo without symbols).
FAULT_KINDS = (
    "5xx",
    "429",
    "418",
    "timeout",
    "malformed",
    "missing_fields",
    "delisted",
    "empty",
)
ROW_KINDS = ("missing_fields", "delisted")
HISTORY_LIMIT_PER_5M = 1000
HISTORY_MAX_AGE_MS = 30 * 86_400_000
PERIOD_MS = 300_000
PERPETUAL_DELIVERY_MS = 4_133_404_800_000  # 2100-12-25, what Binance sends for perpetuals

Number = float | str  # a str is sent verbatim, to inject values like "" or "abc"


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


@dataclass
class Fault:
    endpoint: str  # a path, or "*" for every endpoint
    kind: str
    remaining: int | None  # None: forever
    symbol: str | None
    retry_after: float
    delay: float
    fields: tuple[str, ...]
    status: int


def _fmt(value: Number) -> str:
    if isinstance(value, str):
        return value
    return f"{value:.8f}" if value == 0 or abs(value) >= 1e-3 else f"{value:.12f}"


def _error(status: int, code: int, msg: str) -> tuple[int, Any]:
    return status, {"code": code, "msg": msg}


class FakeBinance:
    def __init__(
        self,
        *,
        latency: float = 0.0,
        weight_limit: int = 2400,
        now_ms: Callable[[], int] | None = None,
        timeout_delay: float = 5.0,
        decoys: bool = True,
        host: str = "127.0.0.1",
        port: int = 0,
        stamp_lag_ms: int = 0,
    ) -> None:
        self.latency = latency
        # How long after the request reaches the server its `time` is stamped: real
        # answers carry the server's time, a little after the client's request started.
        # Tests with a frozen clock set it to model that latency.
        self.stamp_lag_ms = stamp_lag_ms
        # Extra fundingInfo rows (symbol, hours), served after the regular ones.
        self.extra_funding_rows: list[tuple[str, int]] = []
        self.weight_limit = weight_limit
        self.now_ms: Callable[[], int] = now_ms or (lambda: int(time.time() * 1000))
        self.timeout_delay = timeout_delay
        self.symbols: dict[str, FakeSymbol] = {}
        self.faults: list[Fault] = []
        self.calls: Counter[str] = Counter()
        # Bounded so long benchmark runs do not grow without limit.
        self.requests_log: deque[tuple[str, dict[str, str]]] = deque(maxlen=100_000)
        self.total_weight = 0
        self.rejected_429 = 0
        self.max_in_flight = 0
        self._in_flight = 0
        self._host, self._port = host, port
        self._minute = -1
        self._minute_used = 0
        self._history_times: list[int] = []
        self._runner: web.AppRunner | None = None
        self._stopping = asyncio.Event()
        self._changed = asyncio.Condition()
        self.url = ""
        if decoys:
            self._add_decoys()

    # Lifecycle.

    async def start(self) -> FakeBinance:
        app = web.Application()
        app.router.add_route("GET", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"
        return self

    async def stop(self) -> None:
        self._stopping.set()  # ends "timeout" and latency sleeps at once
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeBinance:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

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

    def set_market(
        self,
        symbol: str,
        *,
        mark: Number | None = None,
        index: Number | None = None,
        funding_rate: Number | None = None,
        oi: Number | None = None,
        funding_interval_hours: int | None = None,
        quote_volume: Number | None = None,
    ) -> None:
        """Change some of a symbol's figures; None leaves a figure as it is."""
        entry = self.symbols[symbol]
        changes = {
            "mark": mark,
            "index": index,
            "funding_rate": funding_rate,
            "oi": oi,
            "funding_interval_hours": funding_interval_hours,
            "quote_volume": quote_volume,
        }
        for name, value in changes.items():
            if value is not None:
                setattr(entry, name, value)

    def set_oi_history(self, symbol: str, points: list[tuple[int, float]]) -> None:
        self.symbols[symbol].history = sorted(points)

    def delist(self, symbol: str, *, keep_in_exchange_info: bool = True) -> None:
        """Gone from market data (per-symbol calls answer -1121); exchangeInfo may lag."""
        self.symbols[symbol].listed = False
        self.symbols[symbol].in_exchange_info = keep_in_exchange_info

    def populate(self, n_symbols: int, seed: int = 0, *, history_hours: float = 0.0) -> list[str]:
        """Add n deterministic USDT perpetuals SYM0000USDT...; returns their names.

        About 17% are on 4h funding and 3% on 1h. With history_hours, each also gets
        5-minute OI history up to now_ms().
        """
        rng = random.Random(seed)
        now = self.now_ms() // PERIOD_MS * PERIOD_MS
        names = []
        for i in range(n_symbols):
            name = f"SYM{i:04d}USDT"
            hours = rng.choices((8, 4, 1), weights=(80, 17, 3))[0]
            index = math.exp(rng.uniform(math.log(0.001), math.log(60_000)))
            oi = math.exp(rng.uniform(math.log(1e4), math.log(1e9)))
            self.add_symbol(
                name,
                mark=index * (1 + rng.gauss(0, 0.0008)),
                index=index,
                funding_rate=rng.gauss(0.0001, 0.0002) * hours / 8,
                oi=oi,
                funding_interval_hours=hours,
                onboard_ms=1_600_000_000_000 + i * 86_400_000,
            )
            if history_hours > 0:
                steps = int(history_hours * 12)
                level, points = oi, []
                for k in range(steps, 0, -1):
                    level *= 1 + rng.gauss(0, 0.002)
                    points.append((now - k * PERIOD_MS, level))
                self.symbols[name].history = points
            names.append(name)
        return names

    def add_external_weight(self, weight: int) -> None:
        """Weight spent this minute by someone else on the same IP."""
        self._roll_minute()
        self._minute_used += weight

    def minute_weight(self) -> int:
        self._roll_minute()
        return self._minute_used

    # Faults.

    def fault(
        self,
        endpoint: str,
        kind: str,
        times: int | None = 1,
        symbol: str | None = None,
        *,
        retry_after: float | None = None,
        delay: float | None = None,
        fields: tuple[str, ...] | None = None,
        status: int = 503,
    ) -> Fault:
        """Inject `kind` into the next `times` matching requests (None: forever).

        With `symbol`, per-symbol requests match only that symbol; on bulk endpoints the
        row-level kinds (missing_fields, delisted) then touch only that symbol's row.
        """
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; one of {FAULT_KINDS}")
        default_wait = {"429": 1.0, "418": 120.0}.get(kind, 0.0)
        entry = Fault(
            endpoint=endpoint,
            kind=kind,
            remaining=times,
            symbol=symbol,
            retry_after=default_wait if retry_after is None else retry_after,
            delay=self.timeout_delay if delay is None else delay,
            fields=fields or DEFAULT_MISSING.get(endpoint, ("markPrice", "openInterest")),
            status=status,
        )
        self.faults.append(entry)
        return entry

    def clear_faults(self) -> None:
        self.faults.clear()

    # Counters and waiting.

    def reset_counters(self) -> None:
        self.calls.clear()
        self.requests_log.clear()
        self.total_weight = 0
        self.rejected_429 = 0
        self.max_in_flight = 0

    async def wait_for_calls(self, path: str, n: int, within: float = 10.0) -> None:
        """Wait until `path` has been requested at least n times in all (else TimeoutError)."""
        async with asyncio.timeout(within), self._changed:
            await self._changed.wait_for(lambda: self.calls[path] >= n)

    # Serving.

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path, params = request.path, dict(request.query)
        self.calls[path] += 1
        self.requests_log.append((path, params))
        async with self._changed:
            self._changed.notify_all()
        self._in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self._in_flight)
        try:
            return await self._serve(path, params)
        finally:
            self._in_flight -= 1

    async def _serve(self, path: str, params: dict[str, str]) -> web.Response:
        if self.latency > 0:
            await self._pause(self.latency)
        if path not in WEIGHTS:
            return self._json(404, {"code": -5000, "msg": f"Path {path}, Method GET is invalid"})
        symbol = params.get("symbol")
        request_fault, row_faults = self._take_faults(path, symbol)
        if request_fault is not None and request_fault.kind in ("429", "418"):
            code = 429 if request_fault.kind == "429" else 418
            return self._rate_limited(code, request_fault.retry_after)
        weight = WEIGHTS[path][1 if symbol else 0]
        self._roll_minute()
        if self._minute_used + weight > self.weight_limit:
            return self._rate_limited(429, math.ceil(60 - (self.now_ms() % 60_000) / 1000))
        if path == OPEN_INTEREST_HIST and not self._take_history_slot():
            return self._rate_limited(429, 60)
        self._minute_used += weight
        self.total_weight += weight
        if request_fault is not None:
            if request_fault.kind == "5xx":
                return self._json(request_fault.status, {"code": -1001, "msg": "Internal error."})
            if request_fault.kind == "malformed":
                return self._raw(b'{"symbol":"BTCUSDT","markPrice":"5')
            if request_fault.kind == "empty":
                empty = self._exchange_info(self.now_ms()) if path == EXCHANGE_INFO else []
                if isinstance(empty, dict):
                    empty["symbols"] = []
                return self._json(200, empty)
            await self._pause(request_fault.delay)  # "timeout": answer too late
        status, body = self._dispatch(path, params, row_faults)
        return self._json(status, body)

    def _take_faults(self, path: str, symbol: str | None) -> tuple[Fault | None, list[Fault]]:
        request_fault, row_faults = None, []
        for entry in self.faults:
            if entry.endpoint not in (path, "*") or entry.remaining == 0:
                continue
            if entry.symbol is not None and symbol is not None and entry.symbol != symbol:
                continue
            row_level = entry.kind in ROW_KINDS
            if entry.symbol is not None and symbol is None and not row_level:
                continue
            if row_level:
                row_faults.append(entry)
            elif request_fault is None:
                request_fault = entry
            else:
                continue
            if entry.remaining is not None:
                entry.remaining -= 1
        self.faults = [f for f in self.faults if f.remaining != 0]
        return request_fault, row_faults

    def _dispatch(self, path: str, params: dict[str, str], row_faults: list[Fault]) -> Any:
        symbol = params.get("symbol")
        delisted = {f.symbol for f in row_faults if f.kind == "delisted"}
        if symbol is not None:
            entry = self.symbols.get(symbol)
            if entry is None or not entry.listed or symbol in delisted or None in delisted:
                return _error(400, -1121, "Invalid symbol.")
        elif path in (OPEN_INTEREST, OPEN_INTEREST_HIST):
            return _error(400, -1102, "Mandatory parameter 'symbol' was not sent.")
        if path == OPEN_INTEREST_HIST:
            status, body = self._history(params)
        else:
            status, body = 200, self._build(path, symbol)
        if path != EXCHANGE_INFO and symbol is None and isinstance(body, list):
            body = [row for row in body if row.get("symbol") not in delisted]
        for entry in (f for f in row_faults if f.kind == "missing_fields"):
            rows = body["symbols"] if path == EXCHANGE_INFO else body
            for row in rows if isinstance(rows, list) else [rows]:
                if entry.symbol is None or row.get("symbol") == entry.symbol:
                    for name in entry.fields:
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
            "markPrice": _fmt(s.mark),
            "indexPrice": _fmt(s.index),
            "estimatedSettlePrice": _fmt(s.index),
            # Delivery contracts really do send empty strings here.
            "lastFundingRate": _fmt(s.funding_rate) if perpetual else "",
            "interestRate": "0.00010000" if perpetual else "",
            "nextFundingTime": (now // interval_ms + 1) * interval_ms if perpetual else 0,
            "time": now,
        }

    @staticmethod
    def _oi_row(s: FakeSymbol, now: int) -> dict[str, Any]:
        return {"openInterest": _fmt(s.oi), "symbol": s.symbol, "time": now}

    @staticmethod
    def _ticker_row(s: FakeSymbol, now: int) -> dict[str, Any]:
        return {
            "symbol": s.symbol,
            "priceChange": "0.00",
            "priceChangePercent": "0.000",
            "weightedAvgPrice": _fmt(s.mark),
            "lastPrice": _fmt(s.mark),
            "lastQty": "1.000",
            "openPrice": _fmt(s.mark),
            "highPrice": _fmt(s.mark),
            "lowPrice": _fmt(s.mark),
            "volume": "1000.000",
            "quoteVolume": _fmt(s.quote_volume),
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
                "sumOpenInterest": _fmt(oi),
                "sumOpenInterestValue": _fmt(oi * mark),
                "timestamp": str(t) if i % 2 else t,
            }  # both shapes occur in the wild
            for i, (t, oi) in enumerate(rows)
        ]

    # Plumbing.

    def _roll_minute(self) -> None:
        minute = self.now_ms() // 60_000
        if minute != self._minute:
            self._minute, self._minute_used = minute, 0

    def _take_history_slot(self) -> bool:
        now = self.now_ms()
        self._history_times = [t for t in self._history_times if t > now - 300_000]
        if len(self._history_times) >= HISTORY_LIMIT_PER_5M:
            return False
        self._history_times.append(now)
        return True

    def _rate_limited(self, status: int, retry_after: float) -> web.Response:
        self.rejected_429 += status == 429
        msg = (
            "Too many requests; current limit of IP request weight per minute is "
            f"{self.weight_limit}."
            if status == 429
            else "Way too many requests; IP banned."
        )
        response = self._json(status, {"code": -1003, "msg": msg})
        response.headers["Retry-After"] = f"{retry_after:g}"
        return response

    def _json(self, status: int, body: Any) -> web.Response:
        return self._raw(json.dumps(body).encode(), status)

    def _raw(self, body: bytes, status: int = 200) -> web.Response:
        headers = {"X-MBX-USED-WEIGHT-1M": str(self.minute_weight())}
        return web.Response(
            status=status, body=body, headers=headers, content_type="application/json"
        )

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

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
