"""Per-user and per-group command rate limits (abuse limiting, not product state).

`CommandLimiter` keeps a token bucket per user (`commands_per_minute`), and one per group
(`group_commands_per_minute`, all members together: Telegram lets the bot post only
20 messages a minute in a group, so a busy group cannot be answered faster anyway).
It lives in process memory (bounded, idle keys pruned); with several replicas each
enforces its own share, which is acceptable for its purpose. Chats and subscriptions
live in the DB. The gatekeeper in commands.py consults it before every update.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import Enum


class Verdict(Enum):
    ALLOW = "allow"
    DENY_NOTIFY = "deny_notify"  # first refusal: tell the user once
    DENY_SILENT = "deny_silent"  # further refusals: stay quiet, no amplification


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
