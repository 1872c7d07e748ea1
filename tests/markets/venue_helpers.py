"""Helpers for the Bybit and OKX adapter tests: a client on the test clock, a raw GET
to read what a fake serves (so expected figures come from the payload, not from the
adapter), and one scoring cycle's worth of calls."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp

from bot.config import ExchangeSettings
from bot.markets.base import OpenInterest, PremiumIndex
from bot.markets.rest_client import RestClient
from tests.markets.conftest import FakeClock


def venue_settings(**overrides: object) -> ExchangeSettings:
    values: dict[str, object] = {
        # Generous: a busy machine can take over a second to answer on loopback, and a
        # request timed out there is retried, which changes the calls a test counts. A
        # test of the timeout itself sets a short one (SHORT_TIMEOUT) against the fakes'
        # 2 s "timeout" fault.
        "request_timeout_seconds": 10.0,
        "max_retries": 2,
        "concurrency": 8,
    }
    values.update(overrides)
    return ExchangeSettings.model_validate(values)


SHORT_TIMEOUT = 0.5
OPEN_CLIENTS: list[RestClient] = []


async def close_clients() -> None:
    """Close every client `venue_client` made (the tests' autouse fixture calls it)."""
    while OPEN_CLIENTS:
        await OPEN_CLIENTS.pop().close()


def venue_client(
    make: Callable[..., RestClient], url: str, clock: FakeClock, **overrides: object
) -> RestClient:
    client = make(
        venue_settings(**overrides),
        url,
        sleep=clock.sleep,
        clock=clock.monotonic,
        wall_clock=clock.time,
        backoff_base_seconds=0.01,
        rng=random.Random(0),
    )
    OPEN_CLIENTS.append(client)
    return client


async def served(url: str, path: str, params: dict[str, str]) -> Any:
    """What the fake answers, read without the adapter."""
    async with aiohttp.ClientSession() as session, session.get(url + path, params=params) as r:
        return await r.json(content_type=None)


@dataclass
class Cycle:
    premium: dict[str, PremiumIndex]
    oi: dict[str, OpenInterest]
    intervals: dict[str, int]


async def run_cycle(adapter: Any) -> Cycle:
    """What a scoring cycle asks a bulk venue for, in the scorer's order."""
    await adapter.universe()
    premium = await adapter.premium_index()
    oi = await adapter.open_interest_all()
    intervals = await adapter.funding_intervals()
    return Cycle(premium, oi, intervals)
