"""A stream under test against a loopback fake: run it, collect its events, stop it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import aiohttp

from bot.liquidations.buckets import CoverageClock
from bot.liquidations.events import LiqEvent
from bot.liquidations.ingest import LiqIngest
from bot.liquidations.stream import Backoff, LiqStream
from bot.liquidations.venues import VenueRules
from fakes.fake_liquidations import LiqStreamFake

FAST = Backoff(base_s=0.01, cap_s=0.05)
WITHIN = 15.0  # generous: the suite shares two cores with other runs


class Collected:
    def __init__(self) -> None:
        self.events: list[LiqEvent] = []
        self.changed = asyncio.Event()

    def __call__(self, events: list[LiqEvent], received: float) -> None:
        self.events.extend(events)
        self.changed.set()

    async def wait_count(self, n: int) -> None:
        async with asyncio.timeout(WITHIN):
            while len(self.events) < n:
                self.changed.clear()
                await self.changed.wait()


@contextlib.asynccontextmanager
async def running(
    rules: VenueRules, fake: LiqStreamFake, ingest: LiqIngest | None = None, **kwargs: object
) -> AsyncIterator[tuple[LiqStream, Collected]]:
    """`rules`' stream against `fake`; its events go to `ingest` when given (and its
    liveness to the ingest's coverage clock), else to the returned `Collected`."""
    collected = Collected()
    stop = asyncio.Event()
    async with aiohttp.ClientSession() as session:
        stream = LiqStream(
            rules,
            session,
            fake.url,
            collected if ingest is None else ingest.on_events,
            CoverageClock(rules.venue) if ingest is None else ingest.clock_for(rules.venue),
            backoff=FAST,
            **kwargs,  # type: ignore[arg-type]
        )
        task = asyncio.create_task(stream.run(stop))
        try:
            yield stream, collected
        finally:
            stop.set()
            async with asyncio.timeout(WITHIN):
                await task


async def until(stream: LiqStream, predicate: object) -> None:
    async with asyncio.timeout(WITHIN):
        await stream.wait_until(predicate)  # type: ignore[arg-type]
