"""One replica holds the liquidation streams: the `liquidations` lease, like the scorer's.

Every replica that scores keeps trying for the lease (`LeaseKeeper`); the holder runs
one stream per enabled venue and the ingest, the others stand by. A term (one unbroken
holding of the lease) has one epoch: its buckets are written under it, fenced, so a
holder that lost the lease writes nothing more, and the next holder's rows stand
beside its own. When the holder dies, its lease runs out after `[replica]
lease_seconds` and a standby takes over: the streams were down meanwhile, which the
coverage shows.

The universe comes from the venues' adapters (cached by them, refreshed hourly): Bybit
subscribes one topic per listed symbol, OKX sizes contracts by each swap's ctVal, and
Binance's all-market stream is narrowed to the listed symbols.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Container, Coroutine, Mapping
from typing import Any, Protocol

import aiohttp
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.liquidations.ingest import FLUSH_SECONDS, LiqIngest
from bot.liquidations.stream import Backoff, LiqStream
from bot.liquidations.venues import BinanceRules, BybitRules, OkxRules, VenueRules
from bot.storage import leases
from bot.storage.leases import LeaseKeeper

logger = logging.getLogger(__name__)

UNIVERSE_REFRESH_S = 300.0
HANDSHAKE_TIMEOUT_S = 30.0


class LiqUniverse(Protocol):
    """Which symbols each venue lists, and OKX's contract sizes."""

    async def symbols(self, venue: str) -> list[str]: ...

    async def contract_sizes(self) -> dict[str, float]: ...


class LiqRunner:
    def __init__(
        self,
        settings: Settings,
        sessions: async_sessionmaker[AsyncSession],
        holder: str,
        universe: LiqUniverse,
        *,
        backoff: Backoff | None = None,
        flush_seconds: float = FLUSH_SECONDS,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.universe = universe
        self.backoff = backoff
        self.flush_seconds = flush_seconds
        self.keeper = LeaseKeeper(
            sessions, leases.LIQUIDATIONS, holder, settings.replica.lease_seconds
        )
        self.streams: list[LiqStream] = []
        self.ingest: LiqIngest | None = None
        self._listed: dict[str, frozenset[str]] = {}
        self._sizes: dict[str, float] = {}
        self.terms = 0
        self.holding = asyncio.Event()  # set while this replica's streams run

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[LiqRunner]:
        """Run until the block ends; then the lease is handed back (a standby takes
        the streams over at once)."""
        stop = asyncio.Event()
        task = asyncio.create_task(self.run(stop), name="liquidations")
        try:
            yield self
        finally:
            stop.set()
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await task

    async def run(self, stop: asyncio.Event, *, release_on_stop: bool = True) -> None:
        """Stand by for the lease, hold the streams while this replica has it, until
        `stop`. `release_on_stop=False`: stop as a crash would (the lease lapses)."""
        keeper_stop = asyncio.Event()
        keeping = asyncio.create_task(
            self.keeper.run(keeper_stop, release_on_stop=release_on_stop), name="liq-lease"
        )
        try:
            while not stop.is_set():
                if not await _first(self.keeper.wait_held(), stop):
                    break
                epoch = self.keeper.epoch
                if epoch is None or not self.keeper.held:
                    await _first(self.keeper.wait_lost(), stop, timeout=self.keeper.period)
                    continue
                term = asyncio.Event()
                watch = asyncio.create_task(self._end_term(term, stop))
                try:
                    await self._hold(term, epoch)
                finally:
                    watch.cancel()
        finally:
            keeper_stop.set()
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await keeping

    async def _end_term(self, term: asyncio.Event, stop: asyncio.Event) -> None:
        while not stop.is_set() and self.keeper.held:
            await _first(self.keeper.wait_lost(), stop, timeout=self.keeper.period / 2)
        term.set()

    def _epoch_now(self, epoch: int) -> int | None:
        """The term's epoch while the lease is still safely ours, else None."""
        return epoch if self.keeper.held and self.keeper.epoch == epoch else None

    async def _fence(self, session: AsyncSession, epoch: int) -> bool:
        keeper = self.keeper
        return await leases.fence(session, leases.LIQUIDATIONS, keeper.holder, epoch, keeper.ttl_ms)

    async def _hold(self, term: asyncio.Event, epoch: int) -> None:
        self.terms += 1
        logger.info("%s holds the liquidation streams (epoch %d)", self.keeper.holder, epoch)
        ingest = LiqIngest(
            self.sessions,
            lambda: self._epoch_now(epoch),
            fence=lambda session: self._fence(session, epoch),
            flush_seconds=self.flush_seconds,
            symbols=self._listed_for,
        )
        self.ingest = ingest
        await self._refresh_universe()
        ingest_stop = asyncio.Event()
        writing = asyncio.create_task(ingest.run(ingest_stop), name="liq-ingest")
        # The session's timeout bounds each handshake only; a live socket is watched by
        # its pings (bot/liquidations/stream.py).
        handshake = aiohttp.ClientTimeout(total=HANDSHAKE_TIMEOUT_S)
        async with aiohttp.ClientSession(timeout=handshake) as http:
            self.streams = [
                LiqStream(
                    rules,
                    http,
                    url,
                    ingest.on_events,
                    ingest.clock_for(rules.venue),
                    backoff=self.backoff,
                )
                for rules, url in self._venue_rules()
            ]
            tasks = [asyncio.create_task(s.run(term)) for s in self.streams]
            tasks.append(asyncio.create_task(self._follow_universe(term)))
            self.holding.set()
            try:
                await asyncio.gather(*tasks, return_exceptions=True)
            finally:
                self.holding.clear()
        ingest_stop.set()  # the last flush writes the coverage up to the streams' end
        await writing

    def _venue_rules(self) -> list[tuple[VenueRules, str]]:
        cfg = self.settings.liquidations
        out: list[tuple[VenueRules, str]] = []
        for venue in self.settings.exchange.venues:
            if venue == "binance":
                out.append((BinanceRules(), cfg.binance_ws_url))
            elif venue == "bybit":
                out.append((BybitRules(self._listed.get("bybit", ())), cfg.bybit_ws_url))
            else:
                out.append((OkxRules(lambda: self._sizes), cfg.okx_ws_url))
        return out

    def _listed_for(self, venue: str) -> Container[str] | None:
        return self._listed.get(venue)

    async def _follow_universe(self, term: asyncio.Event) -> None:
        while not term.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(term.wait(), timeout=UNIVERSE_REFRESH_S)
            if term.is_set():
                return
            await self._refresh_universe()
            for stream in self.streams:
                if stream.venue in self._listed:
                    stream.set_symbols(self._listed[stream.venue])

    async def _refresh_universe(self) -> None:
        """Ask the adapters (cached there); a failure keeps what was known."""
        for venue in self.settings.exchange.venues:
            try:
                self._listed[venue] = frozenset(await self.universe.symbols(venue))
                if venue == "okx":
                    self._sizes = dict(await self.universe.contract_sizes())
            except Exception as exc:  # an exchange error: keep the previous universe
                logger.warning("liquidations: %s universe unavailable (%s)", venue, exc)


class AdapterUniverse:
    """`LiqUniverse` from the scorer's exchange adapters (their caches and limits)."""

    def __init__(self, adapters: Mapping[str, Any]) -> None:
        self.adapters = adapters

    async def symbols(self, venue: str) -> list[str]:
        return [i.symbol for i in await self.adapters[venue].universe()]

    async def contract_sizes(self) -> dict[str, float]:
        okx = self.adapters.get("okx")
        return {} if okx is None else dict(await okx.contract_sizes())


async def _first(
    awaitable: Coroutine[Any, Any, None], stop: asyncio.Event, timeout: float | None = None
) -> bool:
    """Await `awaitable` until it completes (True), `stop` is set or `timeout` passes."""
    task = asyncio.create_task(awaitable)
    stopper = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({task, stopper}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        return task.done() and not stop.is_set()
    finally:
        for t in (task, stopper):
            t.cancel()
