"""How the outbox worker records what happened to a claimed group: sent, retried later,
failed, dropped or released. Each outcome commits on its own right after the send, so
a crash loses nothing; the rules are described in `bot.telegram.outbox_worker`.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from telegram.error import BadRequest, ChatMigrated, Forbidden, RetryAfter, TelegramError

from bot.storage import outbox_repo
from bot.storage.outbox_repo import ClaimedGroup
from bot.telegram.outage import TelegramOutage, is_transient, short_error
from bot.telegram.sender import SendAborted, is_unreachable, retry_after_seconds

# The outbox worker's logger: operators (and tests) filter delivery logs by that one name.
logger = logging.getLogger("bot.telegram.outbox_worker")

HOUR_MS = 3_600_000
RECORD_BACKOFF_MAX = 5.0  # seconds between tries to record a send that Telegram accepted


@dataclass
class DispatchStats:
    messages: int = 0
    delivered: int = 0  # delivery rows marked sent
    retried: int = 0
    failed: int = 0
    dropped: int = 0
    stale: int = 0  # dropped because older than the expiry (part of `dropped`)
    suppressed: int = 0
    record_retries: int = 0  # failed tries to record an accepted send


@dataclass
class RetryPolicy:
    max_attempts: int
    backoff_base: float
    backoff_max: float
    expiry_ms: int


class Outcomes:
    """Writes a group's outcome to the outbox and counts it in `stats`."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        stats: DispatchStats,
        outage: TelegramOutage,
        policy: RetryPolicy,
        *,
        now_ms: Callable[[], int],
        on_stale: Callable[[int], None],
    ) -> None:
        self._sessions = sessions
        self._stats = stats
        self._outage = outage
        self._policy = policy
        self._now_ms = now_ms
        self._on_stale = on_stale
        self.unrecorded: set[int] = set()  # accepted by Telegram, not yet recorded sent
        # Several workers: release only claims still ours (one that lapsed and was taken
        # over belongs to the worker sending it now).
        self.holder: str | None = None

    def expired(self, group: ClaimedGroup, now_ms: int) -> bool:
        return bool(group.created_ms) and now_ms - group.created_ms > self._policy.expiry_ms

    async def drop_stale(self, ids: Sequence[int]) -> None:
        await self.record(outbox_repo.mark_dropped, ids, outbox_repo.STALE_REASON)
        self._on_stale(len(ids))

    async def sent(self, ids: Sequence[int]) -> None:
        """Telegram accepted the message: record it, retrying until it lands. Giving up
        would let the claim lapse and the message go out twice; the UPDATE is idempotent."""
        delay = 0.1
        self.unrecorded.update(ids)
        while True:
            try:
                await self.record(outbox_repo.mark_sent, ids, self._now_ms())
                self.unrecorded.difference_update(ids)
                return
            except Exception as exc:
                self._stats.record_retries += 1
                log = logger.warning if self._stats.record_retries % 20 == 1 else logger.debug
                log(
                    "recording %d sent deliveries failed (%s); retrying in %.1f s",
                    len(ids),
                    short_error(exc, 200),
                    delay,
                )
                await asyncio.sleep(delay)
                delay = min(RECORD_BACKOFF_MAX, delay * 2)

    async def retry(
        self, group: ClaimedGroup, exc: Exception, delay: float | None = None, count: bool = True
    ) -> None:
        ids = group.delivery_ids
        policy = self._policy
        if self.expired(group, self._now_ms()):
            await self.drop_stale(ids)
            return
        if is_transient(exc):
            self._outage.failed(exc, ids, policy.backoff_max, policy.expiry_ms / HOUR_MS)
        if count and group.attempts >= policy.max_attempts:
            logger.warning(
                "giving up on %d deliveries to %s after %d attempts: %s",
                len(ids),
                group.chat_id,
                group.attempts,
                exc,
            )
            await self.failed(ids, exc)
            return
        if delay is None:
            delay = policy.backoff_base * 2 ** max(0, min(group.attempts - 1, 30))
            delay = min(policy.backoff_max, delay * random.uniform(0.8, 1.2))
        if not count and not is_transient(exc):
            await self.release(ids, undo_attempt=True)  # not the chat's fault
        self._stats.retried += len(ids)
        next_ms = self._now_ms() + int(delay * 1000)
        await self.record(outbox_repo.mark_retry, ids, next_ms, short_error(exc, 500))

    async def retry_later(self, group: ClaimedGroup, error: str, delay: float | None) -> None:
        """A destination's receiver is down or rate-limits us: due again after `delay`
        (its own word), else after backoff growing with the claims so far. Never counted
        as a failure and never the Telegram outage's business; expiry still applies."""
        if self.expired(group, self._now_ms()):
            await self.drop_stale(group.delivery_ids)
            return
        if delay is None:
            policy = self._policy
            delay = policy.backoff_base * 2 ** max(0, min(group.attempts - 1, 30))
            delay = min(policy.backoff_max, delay * random.uniform(0.8, 1.2))
        self._stats.retried += len(group.delivery_ids)
        next_ms = self._now_ms() + int(delay * 1000)
        await self.record(outbox_repo.mark_retry, group.delivery_ids, next_ms, error[:500])

    async def failed(self, ids: Sequence[int], exc: Exception) -> None:
        await self.failed_with(ids, short_error(exc, 500))

    async def failed_with(self, ids: Sequence[int], error: str) -> None:
        self._stats.failed += len(ids)
        await self.record(outbox_repo.mark_failed, ids, error[:500])

    async def release(self, ids: Sequence[int], *, undo_attempt: bool) -> None:
        async with self._sessions() as session, session.begin():
            await outbox_repo.release_claims(
                session, self._now_ms(), ids, undo_attempt=undo_attempt, holder=self.holder
            )

    async def drop(self, ids: Sequence[int], reason: str) -> None:
        self._stats.dropped += len(ids)
        await self.record(outbox_repo.mark_dropped, ids, reason)

    async def telegram_failed(self, group: ClaimedGroup, exc: Exception) -> None:
        """Records the outcome of a send Telegram did not accept (bot.telegram.outbox_worker
        says which error leads where)."""
        ids = group.delivery_ids
        if isinstance(exc, SendAborted):
            await self.release(ids, undo_attempt=True)
        elif isinstance(exc, RetryAfter):  # the sender already waited several times
            await self.retry(group, exc, delay=retry_after_seconds(exc), count=False)
        elif isinstance(exc, ChatMigrated):  # migrated twice in a row: try again shortly
            await self.retry(group, exc, delay=1.0, count=False)
        elif isinstance(exc, Forbidden | BadRequest):
            if is_unreachable(exc):
                await self.drop(ids, short_error(exc))  # the sender deactivated the chat
            else:
                logger.warning("delivery to %s lost, no fallback fixed: %s", group.chat_id, exc)
                await self.failed(ids, exc)
        elif isinstance(exc, TelegramError):  # TimedOut, NetworkError, 5xx, Conflict, ...
            await self.retry(group, exc, count=not is_transient(exc))
        else:
            logger.error("unexpected error delivering to %s", group.chat_id, exc_info=exc)
            await self.failed(ids, exc)

    async def record(
        self, fn: Callable[..., object], ids: Sequence[int], *args: object, **kwargs: object
    ) -> None:
        async with self._sessions() as session, session.begin():
            await fn(session, ids, *args, **kwargs)  # type: ignore[misc]
