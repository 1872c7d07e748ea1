"""Per-user and per-group command rate limits (abuse limiting, not product state).

`CommandLimiter` keeps a token bucket per user (`commands_per_minute`), and one per group
(`group_commands_per_minute`, all members together: Telegram lets the bot post only
20 messages a minute in a group, so a busy group cannot be answered faster anyway).
It lives in process memory (bounded, idle keys pruned): right for one process (SQLite),
where a database round trip per command would only add latency.

With several replicas answering updates (PostgreSQL) a user's commands reach any of
them, so `SharedCommandLimiter` counts in the database instead (`command_counts`, a
fixed 60 s window on the database clock; bot/storage/command_counts.py). Chats and
subscriptions live in the DB. The gatekeeper in commands.py consults the limiters
before every update.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from enum import Enum
from typing import Protocol

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.storage.command_counts import count_command, prune_command_counts

logger = logging.getLogger(__name__)

WINDOW_MS = 60_000
# Windows are deleted once this old, by whichever replica's turn it is (every few
# minutes per replica: a cheap indexed DELETE).
KEEP_MS = 2 * WINDOW_MS
PRUNE_EVERY_SECONDS = 300.0


class Verdict(Enum):
    ALLOW = "allow"
    DENY_NOTIFY = "deny_notify"  # first refusal: tell the user once
    DENY_SILENT = "deny_silent"  # further refusals: stay quiet, no amplification


class Limiter(Protocol):
    async def verdict(self, key: int) -> Verdict: ...


class CommandLimiter:
    """Token bucket per key (a user or a chat id).

    The first refusal is DENY_NOTIFY, later ones DENY_SILENT. With `notice_interval`
    0 the next refusal after an allowed command notifies again; with N seconds, at most
    one notice per N seconds (a group flooding at the refill rate would otherwise get
    a note for every command it is allowed).
    """

    def __init__(
        self,
        per_minute: int,
        clock: Callable[[], float] = time.monotonic,
        max_users: int = 50_000,
        notice_interval: float = 0.0,
    ) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self.notice_interval = notice_interval
        self._clock = clock
        self._max_users = max_users
        # tokens, at, when the last notice went (None: not since the last allow)
        self._buckets: dict[int, tuple[float, float, float | None]] = {}

    async def verdict(self, key: int) -> Verdict:
        return self.check(key)

    def check(self, user_id: int) -> Verdict:
        now = self._clock()
        tokens, at, noticed = self._buckets.get(user_id, (self.capacity, now, None))
        tokens = min(self.capacity, tokens + (now - at) * self.rate)
        if tokens >= 1:
            keep = noticed if self.notice_interval > 0 else None
            self._buckets[user_id] = (tokens - 1, now, keep)
            if len(self._buckets) > self._max_users:
                self._prune(now)
            return Verdict.ALLOW
        if noticed is not None and (
            self.notice_interval <= 0 or now - noticed < self.notice_interval
        ):
            self._buckets[user_id] = (tokens, now, noticed)
            return Verdict.DENY_SILENT
        self._buckets[user_id] = (tokens, now, now)
        return Verdict.DENY_NOTIFY

    def _prune(self, now: float) -> None:
        for user_id, (tokens, at, _) in list(self._buckets.items()):
            if tokens + (now - at) * self.rate >= self.capacity:
                del self._buckets[user_id]


class SharedCommandLimiter:
    """`per_minute` commands per key in each fixed 60 s window, counted in the database
    so every replica sees the same count. The first refusal in a window notifies, the
    rest are silent: at most one notice per key a minute, like the in-memory limiter's
    group behaviour. A database error lets the command through (the command itself
    will report the database), logged once until it works again."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        scope: str,
        per_minute: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.sessions = sessions
        self.scope = scope
        self.per_minute = per_minute
        self._clock = clock
        self._next_prune = clock() + PRUNE_EVERY_SECONDS
        self._failing = False

    async def verdict(self, key: int) -> Verdict:
        try:
            async with self.sessions() as session, session.begin():
                count = await count_command(session, self.scope, key, WINDOW_MS)
                if self._clock() >= self._next_prune:
                    self._next_prune = self._clock() + PRUNE_EVERY_SECONDS
                    await prune_command_counts(session, KEEP_MS)
        except SQLAlchemyError as exc:
            if not self._failing:
                logger.warning(
                    "command limit (%s): database error, allowing: %s",
                    self.scope,
                    type(exc).__name__,
                )
                self._failing = True
            return Verdict.ALLOW
        self._failing = False
        if count <= self.per_minute:
            return Verdict.ALLOW
        return Verdict.DENY_NOTIFY if count == self.per_minute + 1 else Verdict.DENY_SILENT
