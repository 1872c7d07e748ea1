"""One WebSocket connection manager per venue for its liquidation stream.

It connects, subscribes (`VenueRules.open_messages`), proves the connection alive by
ping/pong (WebSocket ping frames or the venue's text ping, `bot/liquidations/venues.py`),
reconnects with jittered exponential backoff ("full jitter": a uniform wait up to
base x 2^attempt, capped, so many replicas do not reconnect in step) and resubscribes,
reconnects at once ahead of a venue's connection lifetime, and applies a universe change
on the live connection (`set_symbols`): subscribe/unsubscribe messages, no reconnect.

Every change of liveness is marked on the venue's `CoverageClock`, so each stored
minute knows what share of it the stream was live. Events go to `on_events` with the
monotonic time the frame arrived (for the frame-to-bucket latency).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

import aiohttp

from bot.liquidations.buckets import CoverageClock
from bot.liquidations.events import LiqEvent, Parsed
from bot.liquidations.venues import VenueRules

logger = logging.getLogger(__name__)

OnEvents = Callable[[list[LiqEvent], float], None]
# Reconnect this long before the venue's connection lifetime ends.
LIFETIME_MARGIN_S = 600.0
CLOSE_TIMEOUT_S = 2.0
MAX_FRAME_BYTES = 8 * 1024 * 1024


@dataclass
class StreamStats:
    connects: int = 0
    lives: int = 0  # connections that went live (subscribed)
    drops: dict[str, int] = field(default_factory=dict)  # reason -> count
    frames: int = 0
    events: int = 0
    malformed: int = 0
    unknown: int = 0
    skipped_rows: int = 0
    sub_errors: int = 0
    last_error: str | None = None


@dataclass
class Backoff:
    base_s: float = 1.0
    cap_s: float = 60.0
    rng: Callable[[], float] = random.random

    def delay(self, attempt: int) -> float:
        return float(self.rng() * min(self.cap_s, self.base_s * 2.0**attempt))


class LiqStream:
    def __init__(
        self,
        rules: VenueRules,
        session: aiohttp.ClientSession,
        base_url: str,
        on_events: OnEvents,
        coverage: CoverageClock,
        *,
        backoff: Backoff | None = None,
        wall_ms: Callable[[], int] = lambda: int(time.time() * 1000),
        lifetime_margin_s: float = LIFETIME_MARGIN_S,
    ) -> None:
        self.rules = rules
        self.session = session
        self.url = base_url.rstrip("/") + rules.path
        self.on_events = on_events
        self.coverage = coverage
        self.backoff = backoff or Backoff()
        self.wall_ms = wall_ms
        self.lifetime_margin_s = lifetime_margin_s
        self.stats = StreamStats()
        self._outbox: asyncio.Queue[str] = asyncio.Queue()
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._pong = asyncio.Event()
        self._changed = asyncio.Event()
        self._close_reason: str | None = None

    @property
    def venue(self) -> str:
        return self.rules.venue

    @property
    def live(self) -> bool:
        return self.coverage.live

    def set_symbols(self, symbols: Iterable[str]) -> None:
        """The universe changed: update the live connection's topics (no reconnect)."""
        for message in self.rules.set_symbols(symbols):
            if self._ws is not None:
                self._outbox.put_nowait(message)

    async def wait_until(self, predicate: Callable[[StreamStats], bool]) -> None:
        """Until `predicate(stats)` holds (tests and the bench wait on this)."""
        while not predicate(self.stats):
            self._changed.clear()
            await self._changed.wait()

    def _notify(self) -> None:
        self._changed.set()

    async def run(self, stop: asyncio.Event) -> None:
        attempt = 0
        while not stop.is_set():
            went_live, reason = await self._connect_once(stop)
            self._down(reason)
            if stop.is_set():
                break
            if reason == "lifetime":
                attempt = 0
                continue
            attempt = 0 if went_live else attempt + 1
            delay = self.backoff.delay(attempt)
            logger.info("%s liquidations: %s; reconnecting in %.1fs", self.venue, reason, delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=delay)

    def _up(self) -> None:
        if not self.coverage.live:
            self.coverage.up(self.wall_ms())
            self.stats.lives += 1
            logger.info("%s liquidations: live", self.venue)
            self._notify()

    def _down(self, reason: str) -> None:
        self.coverage.down(self.wall_ms())
        self.stats.drops[reason] = self.stats.drops.get(reason, 0) + 1
        self._notify()

    async def _connect_once(self, stop: asyncio.Event) -> tuple[bool, str]:
        """One connection, until it ends: (whether it went live, why it ended)."""
        self._close_reason = None
        self._outbox = asyncio.Queue()
        went_live = False
        helpers: list[asyncio.Task[None]] = []
        try:
            async with self.session.ws_connect(
                self.url,
                heartbeat=self.rules.protocol_heartbeat,
                timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=CLOSE_TIMEOUT_S),
                max_msg_size=MAX_FRAME_BYTES,
            ) as ws:
                self._ws = ws
                self.stats.connects += 1
                for message in self.rules.open_messages():
                    self._outbox.put_nowait(message)
                if self.rules.live_on_connect:
                    self._up()
                helpers = self._start_helpers(ws, stop)
                went_live = await self._read(ws)
                went_live = went_live or self.rules.live_on_connect
                reason = self._close_reason or _ended(ws)
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            reason = f"cannot connect ({type(exc).__name__}: {str(exc)[:120]})"
            self.stats.last_error = reason
        except Exception as exc:  # a bug in a frame's handling: keep the stream alive
            reason = f"error ({type(exc).__name__})"
            self.stats.last_error = reason
            logger.error("%s liquidations: %s; reconnecting", self.venue, reason)
            logger.debug("liquidation stream error", exc_info=exc)
        finally:
            self._ws = None
            for task in helpers:
                task.cancel()
            for task in helpers:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        return went_live, reason

    def _start_helpers(
        self, ws: aiohttp.ClientWebSocketResponse, stop: asyncio.Event
    ) -> list[asyncio.Task[None]]:
        tasks = [
            asyncio.create_task(self._writer(ws)),
            asyncio.create_task(self._close_on(ws, stop.wait(), "stopping")),
        ]
        if self.rules.ping_text is not None:
            tasks.append(asyncio.create_task(self._pinger(ws)))
        if self.rules.lifetime_s is not None:
            planned = max(0.0, self.rules.lifetime_s - self.lifetime_margin_s)
            tasks.append(
                asyncio.create_task(self._close_on(ws, asyncio.sleep(planned), "lifetime"))
            )
        return tasks

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> bool:
        went_live = False
        async for msg in ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                went_live = await self._on_text(msg.data, time.monotonic()) or went_live
            elif msg.type == aiohttp.WSMsgType.ERROR:
                break
        return went_live

    async def _on_text(self, text: str, received: float) -> bool:
        """Handle one frame; True when it made the stream live."""
        self.stats.frames += 1
        parsed = self.rules.parse(text)
        if parsed.kind == "data":
            self.stats.events += len(parsed.events)
            self.stats.skipped_rows += parsed.skipped
            if parsed.events:
                self.on_events(parsed.events, received)
                self._notify()
        elif parsed.kind == "pong":
            self._pong.set()
        elif parsed.kind == "ack":
            self.rules.on_ack(parsed)
            was_live = self.live
            self._up()
            return not was_live
        elif parsed.kind == "sub_error":
            await self._on_sub_error(parsed)
        else:
            self._count_odd(parsed)
        return False

    async def _on_sub_error(self, parsed: Parsed) -> None:
        self.stats.sub_errors += 1
        self.stats.last_error = f"subscription refused: {parsed.detail}"
        messages, fatal = self.rules.on_sub_error(parsed)
        for message in messages:
            self._outbox.put_nowait(message)
        self._notify()
        if fatal and self._ws is not None:
            logger.warning("%s liquidations: subscription refused (%s)", self.venue, parsed.detail)
            self._close_reason = "subscription refused"
            await self._ws.close()

    def _count_odd(self, parsed: Parsed) -> None:
        if parsed.kind == "malformed":
            self.stats.malformed += 1
            if self.stats.malformed == 1 or self.stats.malformed % 1000 == 0:
                logger.warning(
                    "%s liquidations: malformed frame (%d so far): %r",
                    self.venue,
                    self.stats.malformed,
                    parsed.detail,
                )
        else:
            self.stats.unknown += 1
            logger.debug("%s liquidations: unknown frame %r", self.venue, parsed.detail)
        self._notify()

    async def _writer(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        while True:
            message = await self._outbox.get()
            await ws.send_str(message)

    async def _pinger(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        """The venue's text ping every interval; no pong in time: the socket is dead
        (half-open: no close ever comes), so close it and reconnect."""
        assert self.rules.ping_text is not None
        while True:
            await asyncio.sleep(self.rules.ping_interval)
            self._pong.clear()
            await ws.send_str(self.rules.ping_text)
            try:
                await asyncio.wait_for(self._pong.wait(), timeout=self.rules.pong_timeout)
            except TimeoutError:
                self._close_reason = "no pong"
                await ws.close()
                return

    async def _close_on(
        self, ws: aiohttp.ClientWebSocketResponse, when: Awaitable[object], reason: str
    ) -> None:
        await when
        self._close_reason = self._close_reason or reason
        await ws.close()


def _ended(ws: aiohttp.ClientWebSocketResponse) -> str:
    exc = ws.exception()
    if exc is not None:
        return f"connection lost ({type(exc).__name__})"
    return f"closed by the venue (code {ws.close_code})"
