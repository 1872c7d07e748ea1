"""One adapter per enabled venue (`exchange.venues`), each over its own HTTP client."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence

from bot.config import ExchangeSettings, Settings
from bot.markets import binance, bybit, okx
from bot.markets.base import ExchangeAdapter
from bot.markets.rest_client import RestClient

AdapterClass = Callable[..., ExchangeAdapter]
ClientFactory = Callable[[ExchangeSettings], RestClient]
VENUE_PARTS: dict[str, tuple[ClientFactory, AdapterClass]] = {
    "binance": (binance.make_client, binance.BinanceAdapter),
    "bybit": (bybit.make_client, bybit.BybitAdapter),
    "okx": (okx.make_client, okx.OkxAdapter),
}


async def open_adapters(
    settings: Settings,
    stack: contextlib.AsyncExitStack,
    clock: Callable[[], float] = time.time,
    venues: Sequence[str] | None = None,
) -> list[ExchangeAdapter]:
    """An adapter and its HTTP client per venue in `venues` (default: every enabled
    venue, `exchange.venues`); `stack` closes the clients. `clock` is the adapters' wall
    clock (their caches), a test's to move."""
    ex = settings.exchange
    adapters: list[ExchangeAdapter] = []
    for venue in venues if venues is not None else ex.venues:
        make_client, adapter_class = VENUE_PARTS[venue]
        client = await stack.enter_async_context(make_client(ex))
        adapters.append(adapter_class(client, ex, clock=clock))
    return adapters
