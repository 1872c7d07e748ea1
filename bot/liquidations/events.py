"""The one typed liquidation event every venue's frames are parsed into.

Sides are named by the position that was closed, as traders read them: a liquidation
*sell* order closes a long ("long" = longs liquidated), a buy order closes a short.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Side = Literal["long", "short"]
SIDES: tuple[Side, ...] = ("long", "short")


@dataclass(frozen=True, slots=True)
class LiqEvent:
    venue: str
    symbol: str  # the venue's own symbol (BTCUSDT, BTC-USDT-SWAP)
    side: Side  # the position liquidated
    price: float
    qty: float  # in the symbol's base-asset units (OKX: contracts x ctVal)
    usd: float  # notional, qty x price (USDT/USDC taken as USD)
    ts_ms: int  # the venue's time of the liquidation


# What a frame turned out to be, besides liquidations.
FrameKind = Literal["data", "pong", "ack", "sub_error", "unknown", "malformed"]


@dataclass(slots=True)
class Parsed:
    """One frame, parsed: its kind, the events it carried, and for `ack`/`sub_error`
    the request id and the venue's words (to log, never to show users)."""

    kind: FrameKind
    events: list[LiqEvent] = field(default_factory=list)
    req_id: str | None = None
    detail: str = ""
    skipped: int = 0  # rows left out: malformed, or an instrument we cannot size
