"""Each venue's liquidation frames into `LiqEvent`s: pure functions of the frame text.

Shapes, as each venue documents them (fields we use only):

- Binance USDⓈ-M, stream `!forceOrder@arr`, "Liquidation Order Streams":
  https://developers.binance.com/docs/derivatives/usds-margined-futures/websocket-market-streams/Liquidation-Order-Streams
  `{"e":"forceOrder","E":ms,"o":{"s","S","q","p","ap","X","l","z","T"}}`; `S` is the
  liquidation order's side, so SELL closed a long. Quantity: `z` (filled so far), else
  `q`; price: `ap` (average fill), else `p`. Only the latest liquidation per symbol in
  each 1000 ms is pushed: a sample, not a total.
- Bybit v5 `allLiquidation.{symbol}`, "All Liquidation":
  https://bybit-exchange.github.io/docs/v5/websocket/public/all-liquidation
  `{"topic","type":"snapshot","ts","data":[{"T","s","S","v","p"}]}`, numbers as strings.
  `S` is the side of the *position*: "Buy" means a long was liquidated (the docs' own
  definition, the opposite of Binance's order side). Pong and subscribe answers are
  `{"success":bool,"ret_msg":...,"op":"ping"|"subscribe","req_id":...}`
  (https://bybit-exchange.github.io/docs/v5/ws/connect).
- OKX v5 `liquidation-orders`, instType SWAP, "Liquidation orders channel":
  https://www.okx.com/docs-v5/en/#public-data-websocket-liquidation-orders-channel
  `{"arg":{...},"data":[{"instId","details":[{"side","posSide","bkPx","sz","bkLoss","ts"}]}]}`;
  `sz` is in contracts (x `ctVal` coins, from the instruments endpoint), `posSide` names
  the position when the account is in long/short mode, else the order `side` does (sell
  closed a long). OKX says the channel is not every liquidation and not in time order.
  Subscribe answers `{"event":"subscribe"|"error","code","msg"}`; heartbeat text
  "ping" -> "pong".
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from bot.liquidations.events import LiqEvent, Parsed, Side

BINANCE, BYBIT, OKX = "binance", "bybit", "okx"
BYBIT_TOPIC = "allLiquidation."
OKX_CHANNEL = "liquidation-orders"
# The position each venue's side word means was liquidated.
_BINANCE_ORDER_SIDE: dict[str, Side] = {"SELL": "long", "BUY": "short"}
_BYBIT_POSITION_SIDE: dict[str, Side] = {"Buy": "long", "Sell": "short"}
_OKX_ORDER_SIDE: dict[str, Side] = {"sell": "long", "buy": "short"}
_OKX_POSITION_SIDE: dict[str, Side] = {"long": "long", "short": "short"}


def _positive(raw: Any) -> float:
    """A venue number (string or number) that must be finite and > 0."""
    if isinstance(raw, bool) or not isinstance(raw, str | int | float):
        raise ValueError(raw)
    value = float(raw)
    if not math.isfinite(value) or value <= 0:
        raise ValueError(raw)
    return value


def _ms(raw: Any) -> int:
    if isinstance(raw, bool) or not isinstance(raw, str | int):
        raise ValueError(raw)
    value = int(raw)
    if value <= 0:
        raise ValueError(raw)
    return value


def _load(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def parse_binance(text: str) -> Parsed:
    """One frame of `!forceOrder@arr`: an event object (or, tolerated, a list of them)."""
    body = _load(text)
    items = body if isinstance(body, list) else [body]
    if body is None or not all(isinstance(i, dict) for i in items):
        return Parsed("malformed", detail=text[:80])
    out = Parsed("data")
    for item in items:
        if item.get("e") != "forceOrder":
            if len(items) == 1:
                return Parsed("unknown", detail=str(item.get("e"))[:40])
            out.skipped += 1
            continue
        event = _binance_event(item.get("o"))
        if event is None:
            out.skipped += 1
        else:
            out.events.append(event)
    if not out.events and out.skipped:
        out.kind = "malformed"
    return out


def _binance_event(order: Any) -> LiqEvent | None:
    if not isinstance(order, dict):
        return None
    try:
        symbol = order["s"]
        side = _BINANCE_ORDER_SIDE[order["S"]]
        try:
            qty = _positive(order.get("z"))
        except ValueError:
            qty = _positive(order.get("q"))
        try:
            price = _positive(order.get("ap"))
        except ValueError:
            price = _positive(order.get("p"))
        ts = _ms(order.get("T"))
    except (KeyError, ValueError, TypeError):
        return None
    if not isinstance(symbol, str) or not symbol:
        return None
    return LiqEvent(BINANCE, symbol, side, price, qty, qty * price, ts)


def parse_bybit(text: str) -> Parsed:
    body = _load(text)
    if not isinstance(body, dict):
        return Parsed("malformed", detail=text[:80])
    topic = body.get("topic")
    if isinstance(topic, str):
        if not topic.startswith(BYBIT_TOPIC) or not isinstance(body.get("data"), list):
            return Parsed("unknown", detail=topic[:60])
        return _bybit_data(topic[len(BYBIT_TOPIC) :], body["data"])
    op = body.get("op")
    req_id = str(body.get("req_id") or "") or None
    if op == "ping" or body.get("ret_msg") == "pong":
        return Parsed("pong", req_id=req_id)
    if op in ("subscribe", "unsubscribe"):
        detail = str(body.get("ret_msg", ""))[:200]
        if body.get("success") is True:
            return Parsed("ack", req_id=req_id, detail=detail)
        return Parsed("sub_error", req_id=req_id, detail=detail)
    return Parsed("unknown", detail=str(op)[:40])


def _bybit_data(topic_symbol: str, rows: list[Any]) -> Parsed:
    out = Parsed("data")
    for row in rows:
        try:
            symbol = row["s"]
            side = _BYBIT_POSITION_SIDE[row["S"]]
            qty, price, ts = _positive(row["v"]), _positive(row["p"]), _ms(row["T"])
        except (KeyError, ValueError, TypeError):
            out.skipped += 1
            continue
        if symbol != topic_symbol:
            out.skipped += 1
            continue
        out.events.append(LiqEvent(BYBIT, symbol, side, price, qty, qty * price, ts))
    if not out.events and out.skipped:
        out.kind = "malformed"
    return out


def parse_okx(text: str, contract_sizes: Mapping[str, float]) -> Parsed:
    """`contract_sizes`: instId -> ctVal (coins per contract) for the swaps we follow;
    liquidations of other instruments (inverse swaps, other quotes) are skipped."""
    if text == "pong":
        return Parsed("pong")
    body = _load(text)
    if not isinstance(body, dict):
        return Parsed("malformed", detail=text[:80])
    event = body.get("event")
    if event is not None:
        if event == "subscribe":
            return Parsed("ack")
        if event == "error":
            detail = f"{body.get('code', '')} {body.get('msg', '')}".strip()
            return Parsed("sub_error", detail=detail[:200])
        return Parsed("unknown", detail=str(event)[:40])
    arg = body.get("arg")
    if not isinstance(arg, dict) or arg.get("channel") != OKX_CHANNEL:
        return Parsed("unknown", detail=str(arg)[:60])
    data = body.get("data")
    if not isinstance(data, list):
        return Parsed("malformed", detail=text[:80])
    out = Parsed("data")
    broken = sum(_okx_item(item, contract_sizes, out) for item in data)
    if not out.events and broken and broken == out.skipped:
        out.kind = "malformed"  # nothing readable (an instrument we do not size is not that)
    return out


def _okx_item(item: Any, contract_sizes: Mapping[str, float], out: Parsed) -> int:
    """Adds the item's events to `out`; returns how many of its rows were unreadable."""
    if not isinstance(item, dict) or not isinstance(item.get("details"), list):
        out.skipped += 1
        return 1
    inst_id = item.get("instId")
    ct_val = contract_sizes.get(inst_id) if isinstance(inst_id, str) else None
    if ct_val is None:  # not a swap we follow (inverse, another quote, or delisted)
        out.skipped += len(item["details"])
        return 0
    broken = 0
    for detail in item["details"]:
        try:
            side = _okx_side(detail)
            price, contracts, ts = (
                _positive(detail["bkPx"]),
                _positive(detail["sz"]),
                _ms(detail["ts"]),
            )
        except (KeyError, ValueError, TypeError):
            out.skipped += 1
            broken += 1
            continue
        qty = contracts * ct_val
        out.events.append(LiqEvent(OKX, str(inst_id), side, price, qty, qty * price, ts))
    return broken


def _okx_side(detail: Any) -> Side:
    side = _OKX_POSITION_SIDE.get(detail.get("posSide"))
    return side if side is not None else _OKX_ORDER_SIDE[detail["side"]]
