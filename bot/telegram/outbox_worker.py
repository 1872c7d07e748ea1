"""Drains the outbox: pending deliveries -> one digest message per (chat, cycle); a
chat's Discord/HTTPS destinations get one post per (destination, cycle), handed to
`destination_sends` after the same claim and checks (docs/alerts.md, "Destinations").

A single task (`run`) claims due groups (`outbox_repo.claim_due`, one statement) and
starts one small task per group, at most `in_flight` at a time; the `Sender` paces
them under Telegram's flood limits. Each group's outcome is committed on its own right
after its send, so a crash loses nothing:

- sent -> `sent`; recording that is retried until it lands (it is idempotent), so a
  locked or briefly unreachable database never makes a delivered message go out again;
- RetryAfter -> the sender waits as told and retries (nothing lost, nothing counted);
- Forbidden / "chat not found" -> the chat is deactivated and its pending rows dropped;
- ChatMigrated -> the chat id is rewritten (chat, subscriptions, pending rows) and the
  message is sent to the new id;
- TimedOut / NetworkError / 5xx (transient: Telegram or the network is down) -> retried
  with exponential backoff capped at `retry_backoff_max_seconds` (60 s), never counted
  against `max_send_attempts`: an outage of any length ends with every push delivered.
  Meanwhile a getMe probe every 5 s notices the recovery, and the deliveries backed off
  by the outage are due at once. One WARNING line per outage, one INFO at its end;
- other Telegram errors (Conflict, unknown) -> the same backoff, `failed` after
  `max_send_attempts` attempts;
- any other BadRequest (refused even as plain text or in parts: bot/telegram/
  send_fallback.py) -> `failed` at once, logged ("no fallback fixed").
One chat's digests leave in cycle order: each waits for the chat's previous one.

Expiry: a pending delivery older than `delivery_expiry_hours` (6 h) is dropped with
reason `stale` instead of sent (logged, counted in /metrics). A message sent later than
one scoring cycle after its event says how long ago it happened.

In-flight window: at most `in_flight` groups are claimed and on their way at once, by
default ceil(rate x 0.25 s) within [2, 256] (Little's law for a 250 ms round trip): 8 at
30 msg/s, 250 with paid broadcast at 1000 msg/s. It bounds repeats (below).

Stopping: `stop` is an asyncio.Event. Sends still waiting for a slot are aborted (never
handed to Telegram) and their claims released; sends on the wire finish and are
recorded. After kill -9 the dead process's claims come due again (the next start of the
same replica name releases them; other workers take them over when their lease ends),
so every pending delivery goes out; only messages on the wire at the kill (sent, not
recorded) can arrive twice: at most `in_flight`. Several workers (PostgreSQL): claims and
pace through the database (`outbox_claims`, `pace`, docs/alerts.md); outcome recording:
`outcomes`; outage tracking, getMe probe: `outage`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from aiohttp.abc import AbstractResolver
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.replica import replica_name
from bot.storage import outbox_repo
from bot.storage.outbox_repo import AlertItem, ClaimedGroup
from bot.telegram import render
from bot.telegram.claim_keeper import ClaimKeeper
from bot.telegram.destination_sends import DestinationSends
from bot.telegram.outage import TelegramOutage, short_error
from bot.telegram.pace import broadcast_pace, broadcast_rate
from bot.telegram.send_outcomes import HOUR_MS, DispatchStats, Outcomes, RetryPolicy
from bot.telegram.sender import Priority, Sender

logger = logging.getLogger(__name__)

ASSUMED_RTT = 0.25  # seconds: a far-away Bot API round trip, to size the in-flight window


def default_in_flight(messages_per_second: float, upper: int = 256) -> int:
    """Groups on their way at once: rate x round trip (Little's law), within [2, upper]."""
    return max(2, min(upper, math.ceil(messages_per_second * ASSUMED_RTT)))


class OutboxWorker:
    # Event id -> "the last N times it looked like this" (bot/views/lookalike.py); set by
    # the service, None: pushes go without the line.
    lookalikes: Callable[[Sequence[AlertItem]], Mapping[int, Any]] | None = None

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        sender: Sender,
        settings: Settings,
        *,
        poll_interval: float = 5.0,
        max_in_flight: int | None = None,
        lease_ms: int | None = None,
        replica: str | None = None,
        backoff_base: float = 2.0,
        backoff_max: float | None = None,
        release_on_start: bool = True,
        stop_timeout: float = 10.0,
        sweep_interval: float = 60.0,
        on_stale: Callable[[int], None] | None = None,
        clock: Callable[[], float] = time.time,
        resolver: AbstractResolver | None = None,
    ) -> None:
        tg = settings.telegram
        self._sessions = sessions
        self._sender = sender
        self._expiry_ms = int(tg.delivery_expiry_hours * HOUR_MS)
        self._late_ms = int(settings.scorer.interval_seconds * 1000)
        self._quotes = tuple(settings.exchange.quote_assets)
        self._poll = poll_interval
        self._max_in_flight = (
            max_in_flight if max_in_flight is not None else default_in_flight(broadcast_rate(tg))
        )
        holder = replica or replica_name(settings)  # claims are held under this name
        self._claims = ClaimKeeper.make(sessions, settings, holder, lease_ms, clock)
        if (pace := broadcast_pace(sessions, tg, shared=self._claims.shared)) is not None:
            sender.pace_broadcasts(pace, paid=tg.allow_paid_broadcast)
        self._backoff_max = backoff_max if backoff_max is not None else tg.retry_backoff_max_seconds
        self._sweep_interval = sweep_interval
        self._next_sweep = 0.0
        # Called with the number of deliveries dropped as stale: the metrics hook.
        self.on_stale = on_stale
        self._release_on_start, self._stop_timeout = release_on_start, stop_timeout
        self._clock = clock
        self._wake, self._abort = asyncio.Event(), asyncio.Event()
        self._tasks: dict[asyncio.Task[None], ClaimedGroup] = {}
        self._inflight: set[int] = set()  # delivery ids on their way
        # Each chat's (and destination's) newest digest task: theirs leave in cycle order.
        self._chat_last: dict[tuple[int, int], asyncio.Task[None]] = {}
        self.stats = DispatchStats()
        self._outage = TelegramOutage(sender.probe, self._wake)
        policy = RetryPolicy(tg.max_send_attempts, backoff_base, self._backoff_max, self._expiry_ms)
        self._outcomes = Outcomes(
            sessions, self.stats, self._outage, policy, now_ms=self._now_ms, on_stale=self._stale
        )
        self._outcomes.holder = holder if self._claims.shared else None
        # Discord and HTTPS webhooks; `resolver` lets tests decide what names resolve to.
        self.destinations = DestinationSends(sessions, sender, settings, resolver, self._now_ms)
        self.idle = asyncio.Event()  # set whenever nothing is due and nothing in flight
        self._claim_error: str | None = None  # the last claim failure logged, and when
        self._claim_error_at = 0.0

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    def notify(self) -> None:
        """New deliveries were committed: look now instead of at the next poll."""
        self._wake.set()

    # -------------------------------------------------- main loop

    async def run(self, stop: asyncio.Event) -> None:
        if self._release_on_start and await self._claims.release_previous():
            # The previous run died mid-broadcast, sending until then; Telegram counts
            # the token's last second whoever sent it. A restart within that second
            # (a fork, a fast supervisor) would meet 429s: wait one window first.
            self._sender.assume_budget_spent()
        stop_wait = asyncio.create_task(stop.wait())
        try:
            while not stop.is_set():
                self._wake.clear()
                try:
                    self._outage.maybe_probe()
                    if self._outage.recovered:
                        await self._resume_backed_off()
                    await self._claims.renew(self._inflight)
                    await self._sweep()
                    claimed = await self._claim_and_start()
                    self._claim_error = None
                except Exception as exc:  # a locked or unreachable DB must not kill delivery
                    # A read-only or vanished database fails every poll: one line a minute.
                    cause = short_error(exc, 200)
                    now = time.monotonic()
                    if cause != self._claim_error or now - self._claim_error_at >= 60:
                        logger.warning("claiming deliveries failed (%s); retrying", cause)
                        self._claim_error, self._claim_error_at = cause, now
                    logger.debug("claim failure", exc_info=True)
                    await self._wait(stop_wait, False, self._poll)
                    continue
                at_capacity = len(self._tasks) >= self._max_in_flight
                timeout: float = self._poll
                if not claimed and not self._tasks:
                    try:
                        timeout = await self._until_next_due()
                    except Exception as exc:
                        logger.warning(
                            "reading the outbox failed (%s); retrying", short_error(exc, 200)
                        )
                    if timeout > 0:
                        self.idle.set()
                elif claimed and not at_capacity:
                    timeout = 0  # there may be more due right now
                if self._tasks:  # wake in time to renew the claims in hand
                    timeout = min(timeout, self._claims.renew_in())
                await self._wait(stop_wait, at_capacity, timeout)
        except Exception:
            logger.exception("outbox worker loop crashed")
            raise
        finally:
            stop_wait.cancel()
            self._outage.stop()
            await self._shutdown()
            await self.destinations.close()

    async def _wait(
        self, stop_wait: asyncio.Task[bool], at_capacity: bool, timeout: float | None
    ) -> None:
        if timeout == 0:
            await asyncio.sleep(0)
            return
        waiters: set[asyncio.Future[Any]] = {stop_wait}
        wake = asyncio.create_task(self._wake.wait())
        waiters.add(wake)
        if at_capacity:
            waiters.update(self._tasks)
        try:
            await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            wake.cancel()

    @property
    def in_flight(self) -> int:
        """The in-flight window: also the most messages a kill -9 can repeat."""
        return self._max_in_flight

    async def _sweep(self) -> None:
        """Drop pending deliveries past their expiry, at most once per sweep interval."""
        now = time.monotonic()
        if now < self._next_sweep:
            return
        async with self._sessions() as session, session.begin():
            dropped = await outbox_repo.expire_stale(session, self._now_ms() - self._expiry_ms)
        self._next_sweep = now + self._sweep_interval
        if dropped:
            self._stale(dropped)

    def _stale(self, n: int) -> None:
        self.stats.stale += n
        self.stats.dropped += n
        logger.warning(
            "dropped %d deliveries older than %.1f h (stale)", n, self._expiry_ms / HOUR_MS
        )
        if self.on_stale is not None:
            self.on_stale(n)

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
        groups = await self._claims.claim(free)
        started = 0
        for group in groups:
            if self._inflight.intersection(group.delivery_ids):
                continue  # a lease ran out under a very long wait: the first task owns it
            self.idle.clear()
            self._inflight.update(group.delivery_ids)
            key = (group.chat_id, group.destination_id)
            previous = self._chat_last.get(key)  # one chat's digests leave in order
            task = asyncio.create_task(self._deliver_after(previous, group))
            self._chat_last[key] = task
            self._tasks[task] = group
            task.add_done_callback(self._task_done)
            started += 1
        return started

    def _task_done(self, task: asyncio.Task[None]) -> None:
        group = self._tasks.pop(task, None)
        if group is not None:
            self._inflight.difference_update(group.delivery_ids)
            key = (group.chat_id, group.destination_id)
            if self._chat_last.get(key) is task:
                del self._chat_last[key]
        if not task.cancelled() and (exc := task.exception()) is not None:
            if isinstance(exc, SQLAlchemyError):  # a DB blip: the claim lapses, then retried
                logger.warning("delivery task failed: %s", short_error(exc, 200))
                logger.debug("delivery task failure", exc_info=exc)
            else:
                logger.error("delivery task failed", exc_info=exc)
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
            unrecorded = self._outcomes.unrecorded.intersection(uncertain)
            uncertain = [i for i in uncertain if i not in unrecorded]
            if unrecorded:
                logger.error(
                    "%d deliveries were sent but the database did not take the record "
                    "before stop; the next start sends them again",
                    len(unrecorded),
                )
            if uncertain:
                await self._outcomes.release(uncertain, undo_attempt=False)
        self._abort.clear()

    # -------------------------------------------------- one group

    async def _deliver_after(
        self, previous: asyncio.Task[None] | None, group: ClaimedGroup
    ) -> None:
        if previous is not None and not previous.done():  # only the order matters, not its outcome
            await asyncio.wait({previous})
        await self._deliver(group)

    async def _deliver(self, group: ClaimedGroup) -> None:
        ids = group.delivery_ids
        now_ms = self._now_ms()
        items = await self._deliverable(group, now_ms)
        if not items:
            return
        if group.destination_id:  # a Discord or HTTPS webhook: its own sink
            await self.destinations.deliver(group, items, self._outcomes, self.stats, self._abort)
            return
        looks = self.lookalikes(items) if self.lookalikes is not None else None
        text = render.outbox_message(
            items, self._quotes, now_ms=now_ms, late_after_ms=self._late_ms, lookalikes=looks
        )
        markup = render.alert_keyboard(items, self._quotes)
        try:
            await self._sender.send_text(
                group.chat_id,
                text,
                reply_markup=markup,
                priority=Priority.BROADCAST,
                abort=self._abort,
            )
        except Exception as exc:
            await self._outcomes.telegram_failed(group, exc)
            return
        self._outage.ok()
        self.stats.messages += 1
        self.stats.delivered += len(ids)
        await self._outcomes.sent(ids)

    async def _deliverable(self, group: ClaimedGroup, now_ms: int) -> list[AlertItem]:
        """The group's items, or [] once it is recorded why not (stale, inactive, muted...)."""
        ids = group.delivery_ids
        outcomes = self._outcomes
        if outcomes.expired(group, now_ms):
            await outcomes.drop_stale(ids)
            return []
        async with self._sessions() as session:
            items = await outbox_repo.load_items(session, ids, holder=self._claims.own)
            chats = await outbox_repo.load_chats(session, [group.chat_id])
        if not self._claims.still_ours(ids, items):
            return []  # another worker took the lapsed claim over: it sends them
        chat = chats.get(group.chat_id)
        if chat is None or not chat.active:
            await outcomes.drop(ids, "chat inactive")
            return []
        if chat.muted_until_ms is not None and chat.muted_until_ms > now_ms:
            if group.destination_id:  # the chat's own row is held; its catch-up is mirrored
                await outcomes.drop(ids, "muted")
                return []
            self.stats.suppressed += len(ids)
            await outcomes.record(outbox_repo.mark_suppressed, ids, "muted")
            return []
        if not items:
            await outcomes.drop(ids, "event gone")
        return items

    async def _resume_backed_off(self) -> None:
        ids = sorted(self._outage.backed_off)
        async with self._sessions() as session, session.begin():
            await outbox_repo.due_now(session, ids, self._now_ms())
        self._outage.resumed(ids)
