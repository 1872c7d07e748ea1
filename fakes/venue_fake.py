"""What the Bybit and OKX loopback fakes share: the aiohttp server, latency, scoped
faults, per-window request limits, counters and waiting. Each fake supplies its own
payloads and its own way of saying no (see fake_bybit.py, fake_okx.py).

Fault kinds, the same menu as the Binance fake in each venue's own words:
    "5xx"            HTTP `status` (503) with the venue's error envelope
    "rate_limit"     the venue's rate-limit answer (Bybit: 200 + retCode 10006;
                     OKX: 429 + code 50011)
    "ban"            Bybit: HTTP 403 "access too frequent"; OKX: code 50011 in an HTTP 200
    "geo"            a region block: HTTP `status` (451; 403 from Bybit's CDN)
    "error_code"     HTTP 200 with a non-zero venue code (an API error)
    "timeout"        answer after `delay` seconds
    "malformed"      truncated JSON
    "missing_fields" drop `fields` from rows (of `symbol` only, when given)
    "delisted"       the symbol is gone (bulk: its row is left out)
    "empty"          HTTP 200 with an empty list
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from aiohttp import web

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
)
ROW_KINDS = ("missing_fields", "delisted")
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


class VenueFake:
    """Subclasses set PATHS, SYMBOL_PARAM, DEFAULT_MISSING and implement `_answer`,
    `_error_answer` and `_limited`."""

    PATHS: tuple[str, ...] = ()
    SYMBOL_PARAM = "symbol"
    DEFAULT_MISSING: ClassVar[dict[str, tuple[str, ...]]] = {}

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
        self.faults: list[Fault] = []
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

    async def start(self) -> VenueFake:
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
    ) -> Fault:
        """Inject `kind` into the next `times` matching requests (None: forever)."""
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

    async def wait_for_calls(self, path: str, n: int, within: float = 10.0) -> None:
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
            return self._json(404, {"error": f"no route {path}"})
        limited = self._limited(path)
        if limited is not None:
            self.rejected += 1
            return limited
        symbol = params.get(self.SYMBOL_PARAM)
        fault, row_faults = self._take_faults(path, symbol)
        if fault is not None:
            if fault.kind == "timeout":
                await self._pause(fault.delay)
            elif fault.kind == "malformed":
                return self._raw(b'{"retCode":0,"code":"0","data":[{"instId":"BT')
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

    def _limited(self, path: str) -> web.Response | None:
        raise NotImplementedError

    def _error_answer(self, path: str, fault: Fault) -> web.Response:
        raise NotImplementedError

    def _answer(self, path: str, params: dict[str, str], row_faults: list[Fault]) -> Any:
        raise NotImplementedError

    # Plumbing.

    def _json(self, status: int, body: Any) -> web.Response:
        return self._raw(json.dumps(body).encode(), status)

    @staticmethod
    def _raw(
        body: bytes, status: int = 200, content_type: str = "application/json"
    ) -> web.Response:
        return web.Response(status=status, body=body, content_type=content_type)

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)
