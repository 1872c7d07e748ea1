"""A value an adapter fetches again at most every `ttl` seconds (instrument lists,
funding intervals): shared by every venue's adapter."""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from bot.markets.base import ExchangeError

logger = logging.getLogger(__name__)
T = TypeVar("T")


class TtlCache(Generic[T]):
    """A value fetched again at most every `ttl` seconds. A failed refresh keeps the last
    good copy (with a warning) rather than failing the cycle; with no copy yet it raises.
    A fetch that answers None had nothing usable: the copy is kept (or `fallback` stands
    in) and the next call asks again."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.value: T | None = None
        self._at = -math.inf
        self._lock = asyncio.Lock()

    async def get(
        self, now: float, ttl: float, fetch: Callable[[], Awaitable[T | None]], fallback: T
    ) -> T:
        async with self._lock:
            if self.value is None or now - self._at >= ttl:
                try:
                    fresh = await fetch()
                except ExchangeError as exc:
                    if self.value is None:
                        raise
                    logger.warning("%s refresh failed, keeping the cached one: %s", self.name, exc)
                else:
                    if fresh is not None:
                        self.value, self._at = fresh, now
            if self.value is None:
                self.value = fallback
            return self.value
