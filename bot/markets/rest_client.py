"""The one HTTP client every exchange call goes through, whatever the venue.

It owns what must be shared across all requests of a process to one venue: the aiohttp
session, the concurrency bound, the venue's rate budget (`Throttle`, reading the venue's
`VenueLimits` from its `*_constants.py`), the "we are banned or blocked until T" state
and the OI-history circuit breaker. Adapters only say what to fetch and at what weight.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, NoReturn

import aiohttp

from bot.config import ExchangeSettings
from bot.markets.base import (
    ExchangeUnavailable,
    HistoryPaused,
    MalformedResponse,
    VenueBlocked,
)
from bot.markets.rest_errors import (
    ExchangeApiError,
    describe_client_error,
    error_body,
    failure_summary,
    parse_retry_after,
    utc_clock,
)
from bot.markets.throttle import Throttle, VenueLimits

logger = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], float]
Params = Mapping[str, str | int | float]

# Waiting longer than this would stall a whole scoring cycle; fail fast instead.
MAX_RETRY_AFTER_WAIT_SECONDS = 60.0
DEFAULT_RETRY_AFTER_SECONDS = 1.0
# OI-history circuit breaker. Backfills fan out one request per symbol (300+ at a
# cold start); against a failing endpoint, retrying each of them would spend the whole
# history budget in under a second and still fetch nothing. After this many consecutive
# transient failures (5xx, 429, timeout, unreachable; retries included) every history
# request fails fast until the pause ends. The pause doubles on each trip in a row and
# resets after a success.
# Budget and breaker are per process: a `pressurebot scan` next to the service has its
# own. It only backfills windows missing from the shared database (none, next to a
# healthy service) and, against a failing endpoint, sends one wave before its breaker
# trips. Two processes starting cold at once can exceed Binance's 1000 per 5 min together;
# Binance then answers 429, which pauses both (docs/operations.md, "History budget").
HISTORY_BREAKER_FAILURES = 3
HISTORY_PAUSE_SECONDS = 60.0
HISTORY_PAUSE_MAX_SECONDS = 900.0


class _Retry(Exception):
    """A transient failure: try again after `delay` (or the backoff) if attempts remain."""

    def __init__(self, message: str, cause: str, delay: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.cause = cause  # short, for counting: "HTTP 502", "timeout", "Connection refused"
        self.delay = delay


class RestClient:
    """GETs JSON from one venue's base URL within that venue's limits.

    `clock` is monotonic (bans, pauses, sliding windows); `wall_clock` is epoch seconds
    (Binance's per-minute weight window). Both, and `sleep`, are injectable so tests never
    really wait. `weight_used()` counts declared weight: Bybit and OKX limit requests, not
    weight, so their adapters pass `weight=1`.
    """

    def __init__(
        self,
        settings: ExchangeSettings,
        limits: VenueLimits,
        *,
        base_url: str | None = None,
        session: aiohttp.ClientSession | None = None,
        sleep: Sleep = asyncio.sleep,
        clock: Clock = time.monotonic,
        wall_clock: Clock = time.time,
        backoff_base_seconds: float = 0.2,
        backoff_cap_seconds: float = 5.0,
        rng: random.Random | None = None,
    ) -> None:
        self._settings = settings
        self.limits = limits
        self._base_url = (base_url or settings.base_url).rstrip("/")
        self._session = session
        self._owns_session = session is None
        self._sleep = sleep
        self._clock = clock
        self._wall_clock = wall_clock
        self._throttle = Throttle(limits, sleep=sleep, clock=clock, wall_clock=wall_clock)
        self._backoff_base = backoff_base_seconds
        self._backoff_cap = backoff_cap_seconds
        self._rng = rng or random.Random()
        self._timeout = aiohttp.ClientTimeout(total=settings.request_timeout_seconds)
        self._semaphore = asyncio.Semaphore(settings.concurrency)
        self._blocked_until = -math.inf
        self._block_status = 0  # the status that blocked us (0: a rate ban)
        self._pause_until = -math.inf
        self._history_streak = 0
        self._history_paused_until = -math.inf
        self._history_pause = HISTORY_PAUSE_SECONDS
        self._closed = False
        self.reset_counters()

    @property
    def base_url(self) -> str:
        return self._base_url

    async def __aenter__(self) -> RestClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        self._closed = True
        if self._session is not None and self._owns_session:
            await self._session.close()
            self._session = None

    # Counters, for /status, metrics and benchmarks.

    def weight_used(self) -> int:
        """Declared weight of every request sent (retries included) since the last reset."""
        return self._weight_sent

    def history_calls(self) -> int:
        return self._history_calls

    def requests(self) -> int:
        return self._requests

    def reset_counters(self) -> None:
        self._weight_sent = 0
        self._history_calls = 0
        self._requests = 0
        self._history_failures: Counter[str] = Counter()

    def history_failures(self) -> dict[str, int]:
        """Transient OI-history failures by cause since the last reset."""
        return dict(self._history_failures)

    def history_paused_until(self) -> float | None:
        """Epoch seconds until which history requests fail fast, or None."""
        left = self._history_paused_until - self._clock()
        return self._wall_clock() + left if left > 0 else None

    def history_trouble(self, label: str) -> str | None:
        """One line on history failures since the last reset, or None: e.g.
        "openInterestHist: HTTP 502 ×17; backfill paused until 21:45:10 UTC"."""
        parts = []
        if self._history_failures:
            parts.append(failure_summary(self._history_failures))
        until = self.history_paused_until()
        if until is not None:
            # Also when the breaker tripped in an earlier cycle and nothing was sent now.
            parts.append(f"backfill paused until {utc_clock(until)}")
        return f"{label}: " + "; ".join(parts) if parts else None

    @property
    def throttle(self) -> Throttle:
        """This venue's budgets in this process (tests watch its `on_booked`)."""
        return self._throttle

    def server_used_weight(self) -> int:
        """The last used weight the server reported (Binance's `X-MBX-USED-WEIGHT-1M`)."""
        return self._throttle.server_used

    def blocked_for(self) -> float:
        """Seconds until requests are allowed again after a ban (0 when not banned)."""
        return max(0.0, self._blocked_until - self._clock())

    def blocked_status(self) -> int | None:
        """The HTTP status (403, 451) of a block now in force, or None."""
        blocked = self.blocked_for() > 0 and self._block_status in self.limits.block_statuses
        return self._block_status if blocked else None

    def history_budget_left(self, path: str) -> int:
        return self._throttle.budget_left(path)

    # Requests.

    async def get_json(
        self,
        path: str,
        params: Params | None = None,
        *,
        weight: int,
        history: bool = False,
        retries: int | None = None,
    ) -> Any:
        """GET base_url+path and decode JSON.

        Raises ExchangeUnavailable (unreachable, 5xx or 429 after retries, banned;
        VenueBlocked when the venue refuses this IP), ExchangeApiError (other 4xx),
        MalformedResponse (not JSON) and, for `history=True` calls,
        HistoryBudgetExhausted and HistoryPaused. `retries` (default `max_retries`): 0
        for a background call that would rather wait for its next turn.
        """
        attempts = (self._settings.max_retries if retries is None else retries) + 1
        for attempt in range(attempts):
            try:
                result = await self._attempt(path, params, weight, history)
            except _Retry as retry:
                if history:
                    self._history_failed(retry.cause)
                if attempt + 1 >= attempts:
                    raise ExchangeUnavailable(
                        f"{retry.message} (gave up after {attempts} attempts)", retry.cause
                    ) from None
                delay = retry.delay if retry.delay is not None else self._backoff(attempt)
                logger.debug("%s; retrying in %.2fs", retry.message, delay)
                await self._sleep(delay)
            except ExchangeApiError:
                if history:
                    self._history_streak = 0  # the endpoint answers: a symbol problem
                raise
            else:
                if history:
                    self._history_streak = 0
                    self._history_pause = HISTORY_PAUSE_SECONDS
                return result
        raise AssertionError("unreachable")  # the loop always returns or raises

    async def _attempt(self, path: str, params: Params | None, weight: int, history: bool) -> Any:
        url = self._base_url + path
        self._raise_if_banned(url)
        if history:
            self._raise_if_history_paused(url)
        await self._throttle.pace(path, history=history)
        await self._wait_for_pause(url)
        async with self._semaphore:
            # Checked again: a ban may start, or the breaker trip, while this one queued.
            self._raise_if_banned(url)
            if history:
                self._raise_if_history_paused(url)
                self._history_calls += 1
            await self._throttle.reserve_weight(weight)
            self._requests += 1
            self._weight_sent += weight
            try:
                session = self._get_session()
                async with session.get(url, params=params, timeout=self._timeout) as resp:
                    self._throttle.note_server_weight(resp.headers)
                    body = await resp.read()
                    status = resp.status
                    retry_after = parse_retry_after(resp.headers.get("Retry-After"))
            except TimeoutError:
                raise _Retry(
                    f"cannot reach {url}: no answer within "
                    f"{self._settings.request_timeout_seconds:g}s",
                    cause="timeout",
                ) from None
            except aiohttp.ClientError as exc:
                reason = describe_client_error(exc)
                raise _Retry(f"cannot reach {url}: {reason}", cause=reason) from None
        return self._interpret(url, status, retry_after, body)

    def _interpret(self, url: str, status: int, retry_after: float | None, body: bytes) -> Any:
        if status in self.limits.block_statuses:
            self._block(url, status, retry_after)
        if status == 429 or status in self.limits.rate_ban_statuses:
            self._rate_limited(url, status, retry_after)
        if status >= 500:
            raise _Retry(f"{url} keeps failing: HTTP {status}", cause=f"HTTP {status}")
        if status >= 300:
            code, msg = error_body(body)
            raise ExchangeApiError(url, status, code, msg)
        try:
            result = json.loads(body)
        except ValueError:
            raise MalformedResponse(
                f"{url}: response is not JSON ({len(body)} bytes: {body[:60]!r})"
            ) from None
        if self.limits.rate_limited_envelope(result):
            # The venue said "too many requests" with HTTP 200: the same as a 429.
            self._rate_limited(url, 429, retry_after)
        return result

    def _rate_limited(self, url: str, status: int, retry_after: float | None) -> NoReturn:
        wait = retry_after if retry_after is not None else DEFAULT_RETRY_AFTER_SECONDS
        if status in self.limits.rate_ban_statuses or wait > MAX_RETRY_AFTER_WAIT_SECONDS:
            # Carrying on after a 418 extends the ban (up to days): stop sending entirely.
            ban = retry_after if retry_after is not None else self.limits.rate_ban_seconds
            self._blocked_until = max(self._blocked_until, self._clock() + ban)
            self._block_status = 0
            logger.error("%s answered HTTP %d: not sending for %.0fs", url, status, ban)
            raise ExchangeUnavailable(
                f"{url} answered HTTP {status} (rate limit ban); requests fail fast for {ban:.0f}s",
                f"HTTP {status} rate-limit ban",
            )
        # Everyone backs off, not just this request: more traffic now earns a ban.
        self._pause_until = max(self._pause_until, self._clock() + wait)
        logger.warning("%s answered HTTP 429; pausing requests for %.1fs", url, wait)
        raise _Retry(f"{url} keeps rate-limiting us (HTTP 429)", cause="HTTP 429", delay=wait)

    def _block(self, url: str, status: int, retry_after: float | None) -> NoReturn:
        ban = retry_after if retry_after is not None else self.limits.block_seconds
        if not math.isfinite(ban) or ban <= 0:
            ban = self.limits.block_seconds
        already = self.blocked_for() > 0
        self._blocked_until = max(self._blocked_until, self._clock() + ban)
        self._block_status = status
        # DEBUG: the cycle says it once for the venue (bot/cycle/venues.py, or the
        # scorer loop with one venue); concurrent requests would each repeat it here.
        logger.debug(
            "%s%s answered HTTP %d (%s): not sending to %s for %.0fs",
            "(block already in force) " if already else "",
            url,
            status,
            "region block" if status == 451 else "rate ban or region block",
            self.limits.venue,
            ban,
        )
        self._raise_if_banned(url)
        raise AssertionError("unreachable")  # just blocked: the check above raises

    def _raise_if_banned(self, url: str) -> None:
        left = self.blocked_for()
        if left <= 0:
            return
        if self._block_status in self.limits.block_statuses:
            raise VenueBlocked(
                f"{url}: not sending, {self.limits.venue} refused us with HTTP "
                f"{self._block_status}; {left:.0f}s to go",
                until_s=self._wall_clock() + left,
                status=self._block_status,
            )
        raise ExchangeUnavailable(
            f"{url}: not sending, rate-limit ban for another {left:.0f}s", "rate-limit ban"
        )

    async def _wait_for_pause(self, url: str) -> None:
        self._raise_if_banned(url)
        left = self._pause_until - self._clock()
        if left > 0:
            await self._sleep(left)

    def _raise_if_history_paused(self, url: str) -> None:
        if self._history_paused_until > self._clock():
            until = self.history_paused_until() or self._wall_clock()
            raise HistoryPaused(
                f"{url}: not sending, backfill paused until {utc_clock(until)} after "
                f"{failure_summary(self._history_failures)}",
                until_s=until,
            )

    def _history_failed(self, cause: str) -> None:
        self._history_failures[cause] += 1
        self._history_streak += 1
        now = self._clock()
        if self._history_streak >= HISTORY_BREAKER_FAILURES and self._history_paused_until <= now:
            self._history_paused_until = now + self._history_pause
            logger.debug(
                "%s history breaker open for %.0fs after %s",
                self.limits.venue,
                self._history_pause,
                failure_summary(self._history_failures),
            )
            self._history_pause = min(self._history_pause * 2, HISTORY_PAUSE_MAX_SECONDS)
            self._history_streak = 0

    def _backoff(self, attempt: int) -> float:
        ceiling: float = min(self._backoff_cap, self._backoff_base * 2**attempt)
        # Half fixed, half random: spreads concurrent retries without ever retrying at once.
        return ceiling * self._rng.uniform(0.5, 1.0)

    def _get_session(self) -> aiohttp.ClientSession:
        if self._closed:
            # A task still running at shutdown (a positioning round, a backfill) must not
            # open a new session that nothing would close.
            raise ExchangeUnavailable(f"{self._base_url}: client closed", cause="shutting down")
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._settings.concurrency),
                headers={"User-Agent": "pressurebot"},
            )
            self._owns_session = True
        return self._session
