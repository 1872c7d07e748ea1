"""One adapter per enabled venue (`exchange.venues`), each over its own HTTP client."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable

from bot.config import Settings
from bot.markets import bybit, okx
from bot.markets.base import ExchangeAdapter
from bot.markets.binance import BinanceAdapter
from bot.markets.bybit import BybitAdapter
from bot.markets.http import ExchangeHttpClient
from bot.markets.okx import OkxAdapter


async def open_adapters(
    settings: Settings, stack: contextlib.AsyncExitStack, clock: Callable[[], float] = time.time
) -> list[ExchangeAdapter]:
    """An adapter and its HTTP client per enabled venue; `stack` closes the clients.
    `clock` is the adapters' wall clock (their caches), a test's to move."""
    ex = settings.exchange
    adapters: list[ExchangeAdapter] = []
    for venue in ex.venues:
        if venue == "binance":
            client = await stack.enter_async_context(ExchangeHttpClient(ex))
            adapters.append(BinanceAdapter(client, ex, clock=clock))
        elif venue == "bybit":
            by = bybit.make_client(ex, ex.bybit_base_url)
            await stack.enter_async_context(by)
            adapters.append(BybitAdapter(by, ex, clock=clock))
        else:
            ok = okx.make_client(ex, ex.okx_base_url)
            await stack.enter_async_context(ok)
            adapters.append(OkxAdapter(ok, ex, clock=clock))
    return adapters
