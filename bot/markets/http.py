"""The one HTTP client every exchange call goes through.

It owns what must be shared across all requests of a process: the aiohttp session, the
concurrency bound, Binance's per-IP weight budget, the separate openInterestHist budget,
and the "we are banned until T" state. Adapters only say what to fetch and at what weight.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import random
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, NoReturn

import aiohttp

from bot.config import ExchangeSettings
from bot.markets.base import (
    ExchangeUnavailable,
    HistoryBudgetExhausted,
    HistoryPaused,
    MalformedResponse,
)
from bot.markets.http_errors import (
    ExchangeApiError,
    describe_client_error,
    error_body,
    failure_summary,
    parse_retry_after,
    utc_clock,
)

logger = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], float]
Params = Mapping[str, str | int | float]

WEIGHT_HEADER = "X-MBX-USED-WEIGHT-1M"
# Binance counts weight per clock minute, not over a sliding 60 s.
WEIGHT_WINDOW_SECONDS = 60.0
# Wake a little after the minute turns, so a slightly slow local clock does not send into
# the old window and get told to wait another whole minute.
WINDOW_ROLL_SLACK_SECONDS = 0.25
HISTORY_WINDOW_SECONDS = 300.0
# Waiting longer than this would stall a whole scoring cycle; fail fast instead.
MAX_RETRY_AFTER_WAIT_SECONDS = 60.0
# A 418 ban lasts at least two minutes; assume that when no Retry-After comes with it.
DEFAULT_BAN_SECONDS = 120.0
DEFAULT_RETRY_AFTER_SECONDS = 1.0
# openInterestHist circuit breaker. Backfills fan out one request per symbol (300+ at a
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


class ExchangeHttpClient:
    """GETs JSON from one exchange base URL within its rate limits.

    `clock` is monotonic (bans, pauses, the history window); `wall_clock` is epoch
    seconds (Binance's per-minute weight window). Both, and `sleep`, are injectable so
    tests never really wait.
    """

    def __init__(
        self,
        settings: ExchangeSettings,
        *,
        session: aiohttp.ClientSession | None = None,
        sleep: Sleep = asyncio.sleep,
        clock: Clock = time.monotonic,
        wall_clock: Clock = time.time,
        backoff_base_seconds: float = 0.2,
        backoff_cap_seconds: float = 5.0,
        rng: random.Random | None = None,
    ) -> None:
        self._settings = settings
        self._base_url = settings.base_url.rstrip("/")
        self._session = session
        self._owns_session = session is None
        self._sleep = sleep
        self._clock = clock
        self._wall_clock = wall_clock
        self._backoff_base = backoff_base_seconds
        self._backoff_cap = backoff_cap_seconds
        self._rng = rng or random.Random()
        self._timeout = aiohttp.ClientTimeout(total=settings.request_timeout_seconds)
        self._semaphore = asyncio.Semaphore(settings.concurrency)
        # Weight in the current clock minute: our own sends plus what the server reports.
        self._window = -1
        self._window_used = 0
        self._warned_window = -1
        self._server_used = 0
        self._blocked_until = -math.inf
        self._pause_until = -math.inf
        self._history_sent: deque[float] = deque()
        self._history_streak = 0
        self._history_paused_until = -math.inf
        self._history_pause = HISTORY_PAUSE_SECONDS
        self.reset_counters()

    @property
    def base_url(self) -> str:
        return self._base_url

    async def __aenter__(self) -> ExchangeHttpClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
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
        """Transient openInterestHist failures by cause since the last reset."""
        return dict(self._history_failures)

    def history_paused_until(self) -> float | None:
        """Epoch seconds until which history requests fail fast, or None."""
        left = self._history_paused_until - self._clock()
        return self._wall_clock() + left if left > 0 else None

    def server_used_weight(self) -> int:
        """The last `X-MBX-USED-WEIGHT-1M` the server reported."""
        return self._server_used

    def blocked_for(self) -> float:
        """Seconds until requests are allowed again after a ban (0 when not banned)."""
        return max(0.0, self._blocked_until - self._clock())

    def history_budget_left(self) -> int:
        self._expire_history()
        return max(0, self._settings.history_calls_per_5m - len(self._history_sent))

    # Requests.

    async def get_json(
        self, path: str, params: Params | None = None, *, weight: int, history: bool = False
    ) -> Any:
        """GET base_url+path and decode JSON.

        Raises ExchangeUnavailable (unreachable, 5xx or 429 after retries, banned),
        ExchangeApiError (other 4xx), MalformedResponse (not JSON) and, for
        `history=True` calls, HistoryBudgetExhausted.
        """
        url = self._base_url + path
        attempts = self._settings.max_retries + 1
        for attempt in range(attempts):
            try:
                result = await self._attempt(url, params, weight, history)
            except _Retry as retry:
                if history:
                    self._history_failed(retry.cause)
                if attempt + 1 >= attempts:
                    raise ExchangeUnavailable(
                        f"{retry.message} (gave up after {attempts} attempts)"
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

    async def _attempt(self, url: str, params: Params | None, weight: int, history: bool) -> Any:
        if history:
            self._raise_if_history_paused(url)
        await self._wait_for_pause(url)
        async with self._semaphore:
            self._raise_if_banned(url)
            if history:
                # Checked again: the breaker may have tripped while this one queued.
                self._raise_if_history_paused(url)
                self._take_history_slot()
            await self._reserve_weight(weight)
            self._requests += 1
            self._weight_sent += weight
            try:
                session = self._get_session()
                async with session.get(url, params=params, timeout=self._timeout) as resp:
                    self._note_server_weight(resp.headers)
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
        if status in (418, 429):
            self._rate_limited(url, status, retry_after)
        if status >= 500:
            raise _Retry(f"{url} keeps failing: HTTP {status}", cause=f"HTTP {status}")
        if status >= 300:
            code, msg = error_body(body)
            raise ExchangeApiError(url, status, code, msg)
        try:
            return json.loads(body)
        except ValueError:
            raise MalformedResponse(
                f"{url}: response is not JSON ({len(body)} bytes: {body[:60]!r})"
            ) from None

    def _rate_limited(self, url: str, status: int, retry_after: float | None) -> NoReturn:
        wait = retry_after if retry_after is not None else DEFAULT_RETRY_AFTER_SECONDS
        if status == 418 or wait > MAX_RETRY_AFTER_WAIT_SECONDS:
            # Carrying on after a 418 extends the ban (up to days): stop sending entirely.
            ban = retry_after if retry_after is not None else DEFAULT_BAN_SECONDS
            self._blocked_until = max(self._blocked_until, self._clock() + ban)
            logger.error("%s answered HTTP %d: not sending for %.0fs", url, status, ban)
            raise ExchangeUnavailable(
                f"{url} answered HTTP {status} (rate limit ban); requests fail fast for {ban:.0f}s"
            )
        # Everyone backs off, not just this request: more traffic now earns a 418.
        self._pause_until = max(self._pause_until, self._clock() + wait)
        logger.warning("%s answered HTTP 429; pausing requests for %.1fs", url, wait)
        raise _Retry(f"{url} keeps rate-limiting us (HTTP 429)", cause="HTTP 429", delay=wait)

    def _raise_if_banned(self, url: str) -> None:
        left = self.blocked_for()
        if left > 0:
            raise ExchangeUnavailable(f"{url}: not sending, rate-limit ban for another {left:.0f}s")

    async def _wait_for_pause(self, url: str) -> None:
        self._raise_if_banned(url)
        left = self._pause_until - self._clock()
        if left > 0:
            await self._sleep(left)

    async def _reserve_weight(self, weight: int) -> None:
        """Wait for the next clock minute if this request would cross limit - margin."""
        if weight <= 0:
            return
        limit = self._settings.weight_limit_per_minute - self._settings.weight_safety_margin
        while True:
            self._roll_window()
            # An empty window always admits, so an oversized request cannot wait forever.
            if self._window_used == 0 or self._window_used + weight <= limit:
                break
            wait = (
                WEIGHT_WINDOW_SECONDS
                - self._wall_clock() % WEIGHT_WINDOW_SECONDS
                + WINDOW_ROLL_SLACK_SECONDS
            )
            if self._warned_window != self._window:
                self._warned_window = self._window
                logger.warning(
                    "exchange weight %d/min near the limit of %d (margin %d): "
                    "waiting %.1fs for the next minute",
                    self._window_used,
                    self._settings.weight_limit_per_minute,
                    self._settings.weight_safety_margin,
                    wait,
                )
            await self._sleep(wait)
        self._window_used += weight

    def _roll_window(self) -> None:
        window = int(self._wall_clock() // WEIGHT_WINDOW_SECONDS)
        if window != self._window:
            self._window = window
            self._window_used = 0

    def _note_server_weight(self, headers: Mapping[str, str]) -> None:
        raw = headers.get(WEIGHT_HEADER)
        if raw is None:
            return
        try:
            used = int(raw)
        except ValueError:
            return
        self._server_used = used
        self._roll_window()
        # Other processes on the same IP count too; our in-flight requests may not yet.
        self._window_used = max(self._window_used, used)

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
                "openInterestHist breaker open for %.0fs after %s",
                self._history_pause,
                failure_summary(self._history_failures),
            )
            self._history_pause = min(self._history_pause * 2, HISTORY_PAUSE_MAX_SECONDS)
            self._history_streak = 0

    def _expire_history(self) -> None:
        cutoff = self._clock() - HISTORY_WINDOW_SECONDS
        while self._history_sent and self._history_sent[0] <= cutoff:
            self._history_sent.popleft()

    def _take_history_slot(self) -> None:
        self._expire_history()
        limit = self._settings.history_calls_per_5m
        if len(self._history_sent) >= limit:
            frees_in = self._history_sent[0] + HISTORY_WINDOW_SECONDS - self._clock()
            raise HistoryBudgetExhausted(
                f"openInterestHist budget of {limit} calls per 5 min is spent; "
                f"next slot in {frees_in:.0f}s"
            )
        self._history_sent.append(self._clock())
        self._history_calls += 1

    def _backoff(self, attempt: int) -> float:
        ceiling: float = min(self._backoff_cap, self._backoff_base * 2**attempt)
        # Half fixed, half random: spreads concurrent retries without ever retrying at once.
        return ceiling * self._rng.uniform(0.5, 1.0)

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._settings.concurrency),
                headers={"User-Agent": "pressurebot"},
            )
            self._owns_session = True
        return self._session
