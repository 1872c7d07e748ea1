"""Fixtures for exchange tests: a fake Binance whose time is a test-controlled clock."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator

import pytest

from bot.config import ExchangeSettings
from bot.markets.binance import BinanceAdapter
from bot.markets.binance import make_client as binance_client
from bot.markets.rest_client import RestClient
from fakes.fake_binance import FakeBinance

# 2026-01-01T00:00:10Z: ten seconds into a clock minute, so weight waits are ~50 s.
START = 1_767_225_610.0


class FakeClock:
    """Wall and monotonic time that only move when code under test 'sleeps'."""

    def __init__(self, start: float = START) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def time(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.now - START

    def now_ms(self) -> int:
        return int(self.now * 1000)

    def advance(self, seconds: float) -> None:
        self.now += seconds

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += max(seconds, 0.0)
        await asyncio.sleep(0)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def fake(clock: FakeClock) -> AsyncIterator[FakeBinance]:
    async with FakeBinance(now_ms=clock.now_ms) as server:
        yield server


def make_settings(fake: FakeBinance, **overrides: object) -> ExchangeSettings:
    values: dict[str, object] = {
        "base_url": fake.url,
        # Generous, as tests/markets/venue_helpers.py explains; the timeout tests set 1 s.
        "request_timeout_seconds": 10.0,
        "max_retries": 2,
        "concurrency": 8,
    }
    values.update(overrides)
    return ExchangeSettings.model_validate(values)


def make_client(settings: ExchangeSettings, clock: FakeClock) -> RestClient:
    return binance_client(
        settings,
        sleep=clock.sleep,
        clock=clock.monotonic,
        wall_clock=clock.time,
        backoff_base_seconds=0.01,
        rng=random.Random(0),
    )


@pytest.fixture
def settings(fake: FakeBinance) -> ExchangeSettings:
    return make_settings(fake)


@pytest.fixture
async def client(settings: ExchangeSettings, clock: FakeClock) -> AsyncIterator[RestClient]:
    async with make_client(settings, clock) as http:
        yield http


@pytest.fixture
def adapter(client: RestClient, settings: ExchangeSettings, clock: FakeClock) -> BinanceAdapter:
    return BinanceAdapter(client, settings, clock=clock.time)
