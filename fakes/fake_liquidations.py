"""Loopback fakes of the three venues' public liquidation streams, real frame shapes.

Shapes as each venue documents them (see bot/liquidations/frames.py for the pages):
Binance `/ws/!forceOrder@arr` pushes `{"e":"forceOrder","E","o":{...}}`, and only the
latest liquidation per symbol in each 1000 ms window (`FakeBinanceLiq.liquidate` then
`tick`: the sampling is modelled, `sent` holds what was really pushed); Bybit
`/v5/public/linear` answers `{"op":"subscribe","req_id","args"}` and pushes
`allLiquidation.{symbol}` snapshots only for subscribed topics; OKX `/ws/v5/public`
answers the `liquidation-orders` subscription and pushes `details` in contracts.

Faults, as the real services fail:
    drop()            close the TCP connection with no WebSocket close (a reset)
    half_open()       keep the socket open but answer nothing: no pong, no close, no data
    lifetime_s        close every connection with a close frame after this long
    send_raw(text)    any frame: malformed JSON, an unknown event
    refuse            Bybit: topics whose subscribe request fails (`success: false`,
                      the whole request, as Bybit does); OKX: refuse_subscribe=True
                      answers `{"event":"error","code":"60018",...}`
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass
from typing import Any

from aiohttp import WSMsgType, web


@dataclass(frozen=True)
class Liq:
    """One liquidation as the fake's venue saw it; `side` is the position closed."""

    symbol: str
    side: str  # "long" | "short"
    qty: float  # venue units: coins (Binance, Bybit) or contracts (OKX)
    price: float
    ts_ms: int


class LiqStreamFake:
    PATH = ""

    def __init__(self, lifetime_s: float | None = None) -> None:
        self.lifetime_s = lifetime_s
        self.sockets: list[web.WebSocketResponse] = []
        self.connections = 0
        self.pings = 0
        self.received: list[str] = []  # every text frame a client sent
        self.sent: list[Liq] = []  # every liquidation pushed to at least one socket
        self._silent: set[web.WebSocketResponse] = set()
        self._runner: web.AppRunner | None = None
        self._changed = asyncio.Condition()
        self.url = ""

    async def start(self) -> LiqStreamFake:
        app = web.Application()
        app.router.add_get(self.PATH, self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.2)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"ws://{host}:{port}"
        return self

    async def stop(self) -> None:
        for ws in list(self.sockets):
            with contextlib.suppress(Exception):
                self._transport(ws).close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def wait(self, predicate: Any, within: float = 60.0) -> None:
        async with asyncio.timeout(within), self._changed:
            await self._changed.wait_for(lambda: predicate(self))

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    # Faults.

    def drop(self) -> None:
        for ws in list(self.sockets):
            self._transport(ws).close()

    def half_open(self) -> None:
        self._silent.update(self.sockets)

    async def send_raw(self, text: str) -> None:
        for ws in self._open():
            await ws.send_str(text)

    @staticmethod
    def _transport(ws: web.WebSocketResponse) -> Any:
        return ws._req.transport  # type: ignore[union-attr]  # the raw socket, to reset it

    def _open(self) -> list[web.WebSocketResponse]:
        return [ws for ws in self.sockets if ws not in self._silent and not ws.closed]

    # Serving.

    async def _handle(self, request: web.Request) -> web.WebSocketResponse:
        # autoping off: the fake answers pings itself, so a half-open socket can ignore them.
        ws = web.WebSocketResponse(autoping=False)
        await ws.prepare(request)
        self.sockets.append(ws)
        self.connections += 1
        await self._notify()
        closer = None
        if self.lifetime_s is not None:
            closer = asyncio.create_task(self._close_after(ws, self.lifetime_s))
        try:
            async for msg in ws:
                if ws in self._silent:
                    continue
                if msg.type == WSMsgType.PING:
                    self.pings += 1
                    await ws.pong(msg.data)
                elif msg.type == WSMsgType.TEXT:
                    self.received.append(msg.data)
                    await self._on_text(ws, msg.data)
                await self._notify()
        finally:
            if closer is not None:
                closer.cancel()
            self.sockets.remove(ws)
            self._silent.discard(ws)
            await self._notify()
        return ws

    async def _close_after(self, ws: web.WebSocketResponse, seconds: float) -> None:
        await asyncio.sleep(seconds)
        await ws.close(code=1000, message=b"connection lifetime")

    async def _on_text(self, ws: web.WebSocketResponse, text: str) -> None:
        return None


class FakeBinanceLiq(LiqStreamFake):
    PATH = "/ws/!forceOrder@arr"

    def __init__(self, lifetime_s: float | None = None) -> None:
        super().__init__(lifetime_s)
        self._window: dict[str, Liq] = {}

    def liquidate(self, liq: Liq) -> None:
        """A liquidation happens: only the latest per symbol this second will be pushed."""
        self._window[liq.symbol] = liq

    async def tick(self) -> None:
        """The 1000 ms window ends: push the latest liquidation of each symbol."""
        window, self._window = self._window, {}
        for liq in window.values():
            await self.push(liq)

    async def push(self, liq: Liq) -> None:
        order_side = "SELL" if liq.side == "long" else "BUY"
        qty = _num(liq.qty)
        frame = {
            "e": "forceOrder",
            "E": liq.ts_ms + 1,
            "o": {
                "s": liq.symbol,
                "S": order_side,
                "o": "LIMIT",
                "f": "IOC",
                "q": qty,
                "p": _num(liq.price * (0.99 if order_side == "SELL" else 1.01)),
                "ap": _num(liq.price),
                "X": "FILLED",
                "l": qty,
                "z": qty,
                "T": liq.ts_ms,
            },
        }
        await self._push(liq, json.dumps(frame))

    async def _push(self, liq: Liq, text: str) -> None:
        open_ = self._open()
        for ws in open_:
            await ws.send_str(text)
        if open_:
            self.sent.append(liq)


class FakeBybitLiq(LiqStreamFake):
    PATH = "/v5/public/linear"

    def __init__(self, lifetime_s: float | None = None, refuse: set[str] | None = None) -> None:
        super().__init__(lifetime_s)
        self.refuse = refuse or set()
        self.topics: dict[web.WebSocketResponse, set[str]] = {}
        self.requests: list[dict[str, Any]] = []

    def subscribed(self) -> set[str]:
        return {t for ws in self._open() for t in self.topics.get(ws, set())}

    async def _on_text(self, ws: web.WebSocketResponse, text: str) -> None:
        body = json.loads(text)
        op, req_id = body.get("op"), body.get("req_id", "")
        if op == "ping":
            self.pings += 1
            answer = {"success": True, "ret_msg": "pong", "conn_id": "c1", "op": "ping"}
            await ws.send_str(json.dumps({**answer, "req_id": req_id}))
            return
        self.requests.append(body)
        args = body.get("args", [])
        topics = self.topics.setdefault(ws, set())
        bad = [a for a in args if a.removeprefix("allLiquidation.") in self.refuse]
        if op == "subscribe" and bad:
            ret = f"error:handler not found,topic:{bad[0]}"
            answer = {"success": False, "ret_msg": ret, "conn_id": "c1", "op": op}
        else:
            (topics.update if op == "subscribe" else topics.difference_update)(args)
            answer = {"success": True, "ret_msg": "", "conn_id": "c1", "op": op}
        await ws.send_str(json.dumps({**answer, "req_id": req_id}))

    async def push(self, liqs: list[Liq]) -> None:
        """One 500 ms snapshot: a frame per symbol, to the sockets subscribed to it."""
        by_symbol: dict[str, list[Liq]] = {}
        for liq in liqs:
            by_symbol.setdefault(liq.symbol, []).append(liq)
        for symbol, group in by_symbol.items():
            topic = f"allLiquidation.{symbol}"
            data = [
                {
                    "T": liq.ts_ms,
                    "s": symbol,
                    "S": "Buy" if liq.side == "long" else "Sell",
                    "v": _num(liq.qty),
                    "p": _num(liq.price),
                }
                for liq in group
            ]
            frame = {"topic": topic, "type": "snapshot", "ts": group[-1].ts_ms + 5, "data": data}
            targets = [ws for ws in self._open() if topic in self.topics.get(ws, set())]
            for ws in targets:
                await ws.send_str(json.dumps(frame))
            if targets:
                self.sent.extend(group)


class FakeOkxLiq(LiqStreamFake):
    PATH = "/ws/v5/public"

    def __init__(self, lifetime_s: float | None = None) -> None:
        super().__init__(lifetime_s)
        self.refuse_subscribe = False
        self.subscribed_sockets: set[web.WebSocketResponse] = set()

    async def _on_text(self, ws: web.WebSocketResponse, text: str) -> None:
        if text == "ping":
            self.pings += 1
            await ws.send_str("pong")
            return
        body = json.loads(text)
        if self.refuse_subscribe:
            error = {"event": "error", "code": "60018", "msg": "Wrong URL or channel:"}
            await ws.send_str(json.dumps({**error, "connId": "a4d3ae55"}))
            return
        for arg in body.get("args", []):
            await ws.send_str(json.dumps({"event": "subscribe", "arg": arg, "connId": "a4d3ae55"}))
        self.subscribed_sockets.add(ws)

    async def push(self, liqs: list[Liq]) -> None:
        """One frame; the details keep the order given (OKX: not in time order)."""
        by_inst: dict[str, list[Liq]] = {}
        for liq in liqs:
            by_inst.setdefault(liq.symbol, []).append(liq)
        data = [
            {
                "details": [
                    {
                        "bkLoss": "0",
                        "bkPx": _num(liq.price),
                        "ccy": "",
                        "posSide": liq.side,
                        "side": "sell" if liq.side == "long" else "buy",
                        "sz": _num(liq.qty),
                        "ts": str(liq.ts_ms),
                    }
                    for liq in group
                ],
                "instFamily": inst.removesuffix("-SWAP"),
                "instId": inst,
                "instType": "SWAP",
                "uly": inst.removesuffix("-SWAP"),
            }
            for inst, group in by_inst.items()
        ]
        frame = {"arg": {"channel": "liquidation-orders", "instType": "SWAP"}, "data": data}
        targets = [ws for ws in self._open() if ws in self.subscribed_sockets]
        for ws in targets:
            await ws.send_str(json.dumps(frame))
        if targets:
            self.sent.extend(liqs)


def _num(value: float) -> str:
    return f"{value:.10g}"
