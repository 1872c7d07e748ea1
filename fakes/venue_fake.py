"""What the loopback venue fakes share: the aiohttp server, latency, the fault menu,
per-window request limits, counters, waiting, and the market set-up calls. Each fake
(fake_binance.py, fake_bybit.py, fake_okx.py) supplies only its own payloads and its own
way of saying no.

The fault menu, the same for every venue, each answered in the venue's own words:
    "5xx"            HTTP `status` (503) with the venue's error body
    "rate_limit"     the venue's rate-limit answer (Binance: 429 + Retry-After;
                     Bybit: 200 + retCode 10006; OKX: 429 + code 50011)
    "ban"            Binance: HTTP 418 + Retry-After; Bybit: HTTP 403 "access too
                     frequent"; OKX: code 50011 in an HTTP 200
    "geo"            a region block: HTTP `status` (451; 403 from Bybit's CDN)
    "error_code"     an API error (Binance: HTTP 400 with a code; Bybit, OKX: HTTP 200
                     with a non-zero venue code)
    "timeout"        answer after `delay` seconds
    "malformed"      truncated JSON
    "missing_fields" drop `fields` from rows (of `symbol` only, when given)
    "delisted"       the symbol is gone (bulk: its row is left out)
    "empty"          HTTP 200 with an empty list
    "frozen"         the answer first served under the fault, again and again:
                     timestamps and values stuck (a stale cache in front of the venue)
The refusals ("rate_limit", "ban", "geo") are answered before the venue's own limits
count the request, as a venue that refuses does not charge for it.
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
from typing import Any, ClassVar, Self

from aiohttp import web

from fakes.fake_positioning import Ls, default_ls

FAULT_KINDS = (
    "5xx",
    "rate_limit",
    "ban",
    "geo",
    "error_code",
    "timeout",
    "malformed",
    "missing_fields",
    "delisted",
    "empty",
    "frozen",
)
ROW_KINDS = ("missing_fields", "delisted")
REFUSALS = ("rate_limit", "ban", "geo")
PERIOD_MS = 300_000

Number = float | str  # a str is served verbatim, to inject values like "" or "abc"


def fmt(value: Number) -> str:
    """Numbers as the venues send them: strings."""
    if isinstance(value, str):
        return value
    return f"{value:.8f}" if value == 0 or abs(value) >= 1e-3 else f"{value:.12f}"


@dataclass
class Fault:
    endpoint: str  # a path, or "*" for every endpoint
    kind: str
    remaining: int | None  # None: forever
    symbol: str | None
    delay: float
    fields: tuple[str, ...]
    status: int
    retry_after: float = 0.0  # seconds, for the venues that send Retry-After
    frozen: dict[str, tuple[int, Any]] = field(default_factory=dict)  # "frozen": symbol -> answer


def oi_walk(
    rng: random.Random, level: float, hours: float, now: int, *, whole: bool, unit: float
) -> list[tuple[int, float]]:
    """5-minute OI up to `now`: a random walk from `level` (whole contracts of `unit`
    coins each when `whole`), oldest first."""
    points = []
    for k in range(int(hours * 12), 0, -1):
        level *= 1 + rng.gauss(0, 0.002)
        if whole:
            level = max(1, round(level))
        points.append((now - k * PERIOD_MS, level * unit))
    return points


def random_quote(rng: random.Random, hour_weights: tuple[int, int, int]) -> tuple[int, float]:
    """A funding interval (8h, 4h or 1h, by `hour_weights`) and an index price."""
    hours = rng.choices((8, 4, 1), weights=hour_weights)[0]
    return hours, math.exp(rng.uniform(math.log(0.001), math.log(60_000)))


def priced(rng: random.Random, index: float, hours: int) -> dict[str, Any]:
    """A mark near `index` and a funding rate for an `hours` interval, as add_symbol takes."""
    return {
        "mark": index * (1 + rng.gauss(0, 0.0008)),
        "index": index,
        "funding_rate": rng.gauss(0.0001, 0.0002) * hours / 8,
        "funding_interval_hours": hours,
    }


class VenueFake:
    """Subclasses set PATHS, SYMBOL_PARAM, DEFAULT_MISSING, MALFORMED (and, to send
    Retry-After, DEFAULT_RETRY_AFTER) and implement `_answer`, `_error_answer`,
    `_limited` and `_random_symbol`."""

    PATHS: tuple[str, ...] = ()
    SYMBOL_PARAM = "symbol"
    DEFAULT_MISSING: ClassVar[dict[str, tuple[str, ...]]] = {}
    MALFORMED = b'{"retCode":0,"code":"0","data":[{"instId":"BT'
    DEFAULT_RETRY_AFTER: ClassVar[dict[str, float]] = {}
    # Whether `populate`'s OI history walks in whole contracts (OKX) or in coins.
    WHOLE_CONTRACTS = False

    def __init__(
        self,
        *,
        latency: float = 0.0,
        now_ms: Callable[[], int] | None = None,
        timeout_delay: float = 5.0,
        host: str = "127.0.0.1",
        port: int = 0,
        stamp_lag_ms: int = 0,
    ) -> None:
        self.latency = latency
        # How long after the request started its timestamps are taken (see FakeBinance).
        self.stamp_lag_ms = stamp_lag_ms
        self.now_ms: Callable[[], int] = now_ms or (lambda: int(time.time() * 1000))
        self.timeout_delay = timeout_delay
        self.symbols: dict[str, Any] = {}  # symbol -> the venue's own record of it
        self.faults: list[Fault] = []
        # Long/short positioning per symbol (fakes/fake_positioning.py); unset: by name.
        self.ls: dict[str, Ls] = {}
        self.calls: Counter[str] = Counter()
        self.requests_log: deque[tuple[str, dict[str, str]]] = deque(maxlen=100_000)
        self.rejected = 0  # answers refused for going over a limit (not injected)
        self.max_in_flight = 0
        self._in_flight = 0
        self._sent: dict[str, deque[int]] = {}
        self._host, self._port = host, port
        self._runner: web.AppRunner | None = None
        self._stopping = asyncio.Event()
        self._changed = asyncio.Condition()
        self.url = ""

    # Lifecycle.

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def start(self) -> Self:
        app = web.Application()
        app.router.add_route("GET", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        await web.TCPSite(self._runner, self._host, self._port).start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"
        return self

    async def stop(self) -> None:
        self._stopping.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # Market set-up.

    def set_market(self, symbol: str, **changes: Any) -> None:
        """Change some of a symbol's fields (mark=, oi=, ...); None leaves one as it is."""
        for name, value in changes.items():
            if value is not None:
                setattr(self.symbols[symbol], name, value)

    def ls_of(self, symbol: str) -> Ls:
        return self.ls.get(symbol) or default_ls(symbol)

    def set_oi_history(self, symbol: str, points: list[tuple[int, float]]) -> None:
        self.symbols[symbol].history = sorted(points)

    def delist(self, symbol: str) -> None:
        """Gone from market data; per-symbol calls answer the venue's invalid-symbol."""
        self.symbols[symbol].listed = False

    def populate(self, n_symbols: int, seed: int = 0, *, history_hours: float = 0.0) -> list[str]:
        """Add n deterministic symbols in the venue's naming (SYM0000...); returns their
        names. With history_hours, each also gets 5-minute OI history up to now_ms()."""
        rng = random.Random(seed)
        now = self.now_ms() // PERIOD_MS * PERIOD_MS
        names = []
        for i in range(n_symbols):
            name, level, unit = self._random_symbol(i, rng)
            if history_hours > 0:
                whole = self.WHOLE_CONTRACTS
                points = oi_walk(rng, level, history_hours, now, whole=whole, unit=unit)
                self.symbols[name].history = points
            names.append(name)
        return names

    def _random_symbol(self, i: int, rng: random.Random) -> tuple[str, float, float]:
        """Add symbol number i; returns its name, its OI level and the coins per unit
        of that level, from which its history walks back."""
        raise NotImplementedError

    # Faults.

    def fault(
        self,
        endpoint: str,
        kind: str,
        times: int | None = 1,
        symbol: str | None = None,
        *,
        delay: float | None = None,
        fields: tuple[str, ...] | None = None,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> Fault:
        """Inject `kind` into the next `times` matching requests (None: forever).

        With `symbol`, per-symbol requests match only that symbol; on bulk endpoints the
        row-level kinds (missing_fields, delisted) then touch only that symbol's row.
        """
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; one of {FAULT_KINDS}")
        default_status = {"5xx": 503, "geo": 451}.get(kind, 200)
        entry = Fault(
            endpoint=endpoint,
            kind=kind,
            remaining=times,
            symbol=symbol,
            delay=self.timeout_delay if delay is None else delay,
            fields=fields or self.DEFAULT_MISSING.get(endpoint, ()),
            status=default_status if status is None else status,
            retry_after=(
                self.DEFAULT_RETRY_AFTER.get(kind, 0.0) if retry_after is None else retry_after
            ),
        )
        self.faults.append(entry)
        return entry

    def clear_faults(self) -> None:
        self.faults.clear()

    def reset_counters(self) -> None:
        self.calls.clear()
        self.requests_log.clear()
        self.rejected = 0
        self.max_in_flight = 0

    async def wait_for_calls(self, path: str, n: int, within: float = 60.0) -> None:
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
            if self.latency > 0:
                await self._pause(self.latency)
            return await self._serve(path, params)
        finally:
            self._in_flight -= 1

    async def _serve(self, path: str, params: dict[str, str]) -> web.Response:
        if path not in self.PATHS:
            return self._no_route(path)
        symbol = params.get(self.SYMBOL_PARAM)
        fault, row_faults = self._take_faults(path, symbol)
        if fault is not None and fault.kind in REFUSALS:
            return self._error_answer(path, fault)
        limited = self._limited(path, params)
        if limited is not None:
            self.rejected += 1
            return limited
        if fault is not None:
            if fault.kind == "timeout":
                await self._pause(fault.delay)  # then answer, too late
            elif fault.kind == "malformed":
                return self._raw(self.MALFORMED)
            elif fault.kind == "frozen":
                key = params.get(self.SYMBOL_PARAM) or ""
                if key not in fault.frozen:
                    fault.frozen[key] = self._answer(path, params, row_faults)
                return self._json(*fault.frozen[key])
            else:
                return self._error_answer(path, fault)
        status, body = self._answer(path, params, row_faults)
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

    def take_slot(self, key: str, limit: int, window_ms: int) -> bool:
        """Count one request against `limit` per `window_ms` under `key`; False if over."""
        now = self.now_ms()
        sent = self._sent.setdefault(key, deque())
        while sent and sent[0] <= now - window_ms:
            sent.popleft()
        if len(sent) >= limit:
            return False
        sent.append(now)
        return True

    def stamp(self) -> int:
        return self.now_ms() + self.stamp_lag_ms

    @staticmethod
    def drop_fields(rows: list[Any], faults: list[Fault], key: str) -> None:
        for entry in (f for f in faults if f.kind == "missing_fields"):
            for row in rows:
                if isinstance(row, dict) and (entry.symbol is None or row.get(key) == entry.symbol):
                    for name in entry.fields:
                        row.pop(name, None)

    # To implement.

    def _limited(self, path: str, params: dict[str, str]) -> web.Response | None:
        """The venue's answer when this request goes over one of its limits, else None."""
        raise NotImplementedError

    def _error_answer(self, path: str, fault: Fault) -> web.Response:
        raise NotImplementedError

    def _answer(self, path: str, params: dict[str, str], row_faults: list[Fault]) -> Any:
        raise NotImplementedError

    def _no_route(self, path: str) -> web.Response:
        return self._json(404, {"error": f"no route {path}"})

    def _headers(self) -> dict[str, str]:
        """Headers on every answer (Binance's used-weight count)."""
        return {}

    # Plumbing.

    def _json(self, status: int, body: Any) -> web.Response:
        return self._raw(json.dumps(body).encode(), status)

    def _raw(
        self, body: bytes, status: int = 200, content_type: str = "application/json"
    ) -> web.Response:
        return web.Response(
            status=status, body=body, headers=self._headers(), content_type=content_type
        )

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)
