"""Drains the outbox: pending deliveries -> one digest message per (chat, cycle).

A single task (`run`) claims due groups (`outbox_repo.claim_due`, one statement) and
starts one small task per group, at most `max_in_flight` at a time; the `Sender` paces
them under Telegram's flood limits. Each group's outcome is committed on its own right
after its send, so a crash loses nothing:

- sent -> `sent`;
- RetryAfter -> the sender waits as told and retries (nothing lost, nothing counted);
- Forbidden / "chat not found" -> the chat is deactivated and its pending rows dropped;
- ChatMigrated -> the chat id is rewritten (chat, subscriptions, pending rows) and the
  message is sent to the new id;
- TimedOut / NetworkError / other Telegram errors -> retried with bounded exponential
  backoff via `next_attempt_ms`; `failed` after `max_send_attempts` attempts;
- any other BadRequest (a message Telegram rejects) -> `failed` at once.

Stopping: `stop` is an asyncio.Event. Sends still waiting for a slot are aborted (never
handed to Telegram) and their claims released; sends already on the wire finish and
are recorded. After kill -9 the next start releases the dead process's claims
(`release_on_start`), so every pending delivery goes out; only a message that was on the
wire at the kill, sent but not yet recorded, can arrive twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from telegram.error import BadRequest, ChatMigrated, Forbidden, RetryAfter, TelegramError

from bot.config import Settings
from bot.storage import outbox_repo
from bot.storage.outbox_repo import ClaimedGroup
from bot.telegram import render
from bot.telegram.sender import (
    Priority,
    SendAborted,
    Sender,
    is_unreachable,
    retry_after_seconds,
)

logger = logging.getLogger(__name__)


@dataclass
class DispatchStats:
    messages: int = 0
    delivered: int = 0  # delivery rows marked sent
    retried: int = 0
    failed: int = 0
    dropped: int = 0
    suppressed: int = 0


class Dispatcher:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        sender: Sender,
        settings: Settings,
        *,
        poll_interval: float = 5.0,
        max_in_flight: int = 32,
        lease_ms: int = 600_000,
        backoff_base: float = 2.0,
        backoff_max: float = 300.0,
        release_on_start: bool = True,
        stop_timeout: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._sessions = sessions
        self._sender = sender
        self._max_attempts = settings.telegram.max_send_attempts
        self._quotes = tuple(settings.exchange.quote_assets)
        self._poll = poll_interval
        self._max_in_flight = max_in_flight
        self._lease_ms = lease_ms
        self._backoff_base = backoff_base
        self._backoff_max = backoff_max
        self._release_on_start = release_on_start
        self._stop_timeout = stop_timeout
        self._clock = clock
        self._wake = asyncio.Event()
        self._abort = asyncio.Event()
        self._tasks: dict[asyncio.Task[None], ClaimedGroup] = {}
        self._inflight: set[int] = set()
        self.stats = DispatchStats()
        self.idle = asyncio.Event()  # set whenever nothing is due and nothing in flight

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    def notify(self) -> None:
        """New deliveries were committed: look now instead of at the next poll."""
        self._wake.set()

    # -------------------------------------------------- main loop

    async def run(self, stop: asyncio.Event) -> None:
        if self._release_on_start:
            try:
                async with self._sessions() as session, session.begin():
                    released = await outbox_repo.release_claims(session, self._now_ms())
            except Exception:  # they come due when their lease ends anyway
                logger.exception("releasing claims of a previous run failed")
            else:
                if released:
                    logger.info("released %d deliveries claimed by a previous run", released)
        stop_wait = asyncio.create_task(stop.wait())
        try:
            while not stop.is_set():
                self._wake.clear()
                try:
                    claimed = await self._claim_and_start()
                except Exception:  # a locked or unreachable DB must not kill delivery
                    logger.exception("claiming deliveries failed; retrying")
                    await self._wait(stop_wait, False, self._poll)
                    continue
                at_capacity = len(self._tasks) >= self._max_in_flight
                timeout: float | None = self._poll
                if not claimed and not self._tasks:
                    try:
                        timeout = await self._until_next_due()
                    except Exception:
                        logger.exception("reading the outbox failed; retrying")
                    if timeout > 0:
                        self.idle.set()
                elif claimed and not at_capacity:
                    timeout = 0  # there may be more due right now
                await self._wait(stop_wait, at_capacity, timeout)
        except Exception:
            logger.exception("dispatcher loop crashed")
            raise
        finally:
            stop_wait.cancel()
            await self._shutdown()

    async def _wait(
        self, stop_wait: asyncio.Task[bool], at_capacity: bool, timeout: float | None
    ) -> None:
        if timeout == 0:
            await asyncio.sleep(0)
            return
        waiters: set[asyncio.Future[object]] = {stop_wait}
        wake = asyncio.create_task(self._wake.wait())
        waiters.add(wake)
        if at_capacity:
            waiters.update(self._tasks)
        try:
            await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            wake.cancel()

    async def _until_next_due(self) -> float:
        async with self._sessions() as session:
            due = await outbox_repo.next_due_ms(session)
        if due is None:
            return self._poll
        return min(self._poll, max(0.0, (due - self._now_ms()) / 1000))

    async def _claim_and_start(self) -> int:
        free = self._max_in_flight - len(self._tasks)
        if free <= 0:
            return 0
        async with self._sessions() as session, session.begin():
            groups = await outbox_repo.claim_due(
                session, self._now_ms(), max_groups=free, lease_ms=self._lease_ms
            )
        started = 0
        for group in groups:
            if self._inflight.intersection(group.delivery_ids):
                continue  # a lease ran out under a very long wait: the first task owns it
            self.idle.clear()
            self._inflight.update(group.delivery_ids)
            task = asyncio.create_task(self._deliver(group))
            self._tasks[task] = group
            task.add_done_callback(self._task_done)
            started += 1
        return started

    def _task_done(self, task: asyncio.Task[None]) -> None:
        group = self._tasks.pop(task, None)
        if group is not None:
            self._inflight.difference_update(group.delivery_ids)
        if not task.cancelled() and task.exception() is not None:
            logger.error("delivery task failed", exc_info=task.exception())
        self._wake.set()

    async def _shutdown(self) -> None:
        """Abort sends waiting for a slot; let sends on the wire finish and be recorded."""
        self._abort.set()
        tasks = list(self._tasks)
        if tasks:
            _done, pending = await asyncio.wait(tasks, timeout=self._stop_timeout)
            uncertain: list[int] = []
            for task in pending:
                uncertain.extend(self._tasks.get(task, ClaimedGroup(0, 0)).delivery_ids)
                task.cancel()
            with contextlib.suppress(Exception):
                await asyncio.gather(*pending, return_exceptions=True)
            if uncertain:
                await self._release(uncertain, undo_attempt=False)
        self._abort.clear()

    # -------------------------------------------------- one group

    async def _deliver(self, group: ClaimedGroup) -> None:
        ids = group.delivery_ids
        async with self._sessions() as session:
            items = await outbox_repo.load_items(session, ids)
            chats = await outbox_repo.load_chats(session, [group.chat_id])
        chat = chats.get(group.chat_id)
        now_ms = self._now_ms()
        if chat is None or not chat.active:
            await self._drop(ids, "chat inactive")
            return
        if chat.muted_until_ms is not None and chat.muted_until_ms > now_ms:
            self.stats.suppressed += len(ids)
            await self._record(outbox_repo.mark_suppressed, ids, "muted")
            return
        if not items:
            await self._drop(ids, "event gone")
            return
        text = render.outbox_message(items, self._quotes)
        markup = render.alert_keyboard(items, self._quotes)
        try:
            await self._sender.send_text(
                group.chat_id,
                text,
                reply_markup=markup,
                priority=Priority.BROADCAST,
                abort=self._abort,
            )
        except SendAborted:
            await self._release(ids, undo_attempt=True)
            return
        except RetryAfter as exc:  # the sender already waited several times
            await self._retry(group, exc, delay=retry_after_seconds(exc), count=False)
            return
        except ChatMigrated as exc:  # migrated twice in a row: try again shortly
            await self._retry(group, exc, delay=1.0, count=False)
            return
        except (Forbidden, BadRequest) as exc:
            if is_unreachable(exc):
                await self._drop(ids, _short(exc))  # the sender deactivated the chat
            else:
                logger.warning("telegram rejected a delivery to %s: %s", group.chat_id, exc)
                self.stats.failed += len(ids)
                await self._record(outbox_repo.mark_failed, ids, _short(exc, 500))
            return
        except TelegramError as exc:  # TimedOut, NetworkError, Conflict, ...
            await self._retry(group, exc)
            return
        except Exception as exc:
            logger.exception("unexpected error delivering to %s", group.chat_id)
            self.stats.failed += len(ids)
            await self._record(outbox_repo.mark_failed, ids, _short(exc, 500))
            return
        self.stats.messages += 1
        self.stats.delivered += len(ids)
        await self._record(outbox_repo.mark_sent, ids, self._now_ms())

    async def _retry(
        self, group: ClaimedGroup, exc: Exception, delay: float | None = None, count: bool = True
    ) -> None:
        ids = group.delivery_ids
        if count and group.attempts >= self._max_attempts:
            logger.warning(
                "giving up on %d deliveries to %s after %d attempts: %s",
                len(ids),
                group.chat_id,
                group.attempts,
                exc,
            )
            self.stats.failed += len(ids)
            await self._record(outbox_repo.mark_failed, ids, _short(exc, 500))
            return
        if delay is None:
            delay = min(self._backoff_max, self._backoff_base * 2 ** max(0, group.attempts - 1))
            delay *= random.uniform(0.8, 1.2)
        if not count:
            await self._release(ids, undo_attempt=True)  # not the chat's fault
        self.stats.retried += len(ids)
        next_ms = self._now_ms() + int(delay * 1000)
        await self._record(outbox_repo.mark_retry, ids, next_ms, _short(exc, 500))

    async def _release(self, ids: Sequence[int], *, undo_attempt: bool) -> None:
        async with self._sessions() as session, session.begin():
            await outbox_repo.release_claims(
                session, self._now_ms(), ids, undo_attempt=undo_attempt
            )

    async def _drop(self, ids: Sequence[int], reason: str) -> None:
        self.stats.dropped += len(ids)
        await self._record(outbox_repo.mark_dropped, ids, reason)

    async def _record(
        self, fn: Callable[..., object], ids: Sequence[int], *args: object, **kwargs: object
    ) -> None:
        async with self._sessions() as session, session.begin():
            await fn(session, ids, *args, **kwargs)  # type: ignore[misc]


def _short(exc: Exception, limit: int = 64) -> str:
    text = str(exc).strip() or exc.__class__.__name__
    return f"{exc.__class__.__name__}: {text}"[:limit]
