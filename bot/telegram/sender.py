"""The one seam every outgoing Telegram call goes through.

Telegram allows about 30 messages/s per bot, 1 message/s per private chat (short bursts
tolerated) and 20 messages/min per group. PTB's AIORateLimiter does not enforce the
per-private-chat limit and re-raises RetryAfter, so pacing lives here:

- global: at most N messages in any window of N/rate seconds plus a safety margin (so
  29-30 msg/s sustained), with a minimum gap that spreads bursts;
- private chats (id > 0): a token bucket of `private_burst` messages, refilled every
  `private_chat_interval_seconds` (plus margin);
- groups and channels (id < 0): at most `group_messages_per_minute` in any minute.

Replies to commands jump the queue ahead of broadcast (`Priority.REPLY`). A RetryAfter
pauses the chat it came from for as long as Telegram says, then the call is retried: a
group over its 20/min must not hold up private chats. Only a *global flood signal*
pauses every send: RetryAfter answers for `global_flood_chats` (3) distinct chats within
`global_flood_window` (10 s). Our own pacing keeps each chat under its limit, so 429s
on several chats at once mean the bot-wide budget is what ran out (Telegram's limit is
lower than configured, or another process shares the token); a single chat's 429 is
that chat's own limit. ChatMigrated and unreachable chats (Forbidden, "chat not found")
are reported to `ChatEvents`, so command replies and the outbox worker treat them alike.

A reply runs in one of PTB's concurrent update slots, so it must not wait long: when its
chat's budget (or a flood pause) would hold it over `reply_max_wait` seconds, it is
dropped at once (logged, counted in `stats.replies_dropped`), the send returning nothing.

The bookkeeping of those limits (`FloodControl`) and the priority gate live in
`bot.telegram.flood_control`; this module decides when to wait, retry or drop. Outbox
broadcasts may take their bot-wide slot from a `Pace` instead (`pace_broadcasts`):
shared through the database by several workers, or paid broadcast's own budget
(bot/telegram/pace.py says why replies keep the local window).
"""

from __future__ import annotations

import asyncio
import logging
import time
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from enum import IntEnum
from typing import Any, Protocol, TypeVar

from telegram import Bot, InputFile, LinkPreviewOptions, Message, ReplyParameters
from telegram.constants import ParseMode
from telegram.error import BadRequest, ChatMigrated, Forbidden, RetryAfter

from bot.config import TelegramSettings
from bot.telegram.flood_control import FloodControl, PriorityGate, Slot
from bot.telegram.message_limits import fits_caption, split_message
from bot.telegram.outage import short_error
from bot.telegram.pace import Pace, sleep_or_abort
from bot.telegram.pace import SendAborted as SendAborted
from bot.telegram.send_fallback import send_with_fallbacks

logger = logging.getLogger(__name__)

T = TypeVar("T")
NO_PREVIEW = LinkPreviewOptions(is_disabled=True)


class _ReplyTooLate(SendAborted):
    """A reply would wait past its deadline for its chat's budget: dropped, not sent."""


class Priority(IntEnum):
    REPLY = 0
    BROADCAST = 1


class ChatEvents(Protocol):
    async def chat_unreachable(self, chat_id: int, reason: str) -> None: ...

    async def chat_migrated(self, old_id: int, new_id: int) -> None: ...


def retry_after_seconds(exc: RetryAfter) -> float:
    """RetryAfter.retry_after is an int (deprecated) or a timedelta: accept both."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        raw: Any = exc.retry_after
    if isinstance(raw, timedelta):
        return max(0.0, raw.total_seconds())
    return max(0.0, float(raw))


def is_unreachable(exc: Exception) -> bool:
    """Forbidden (blocked, kicked, deactivated) or BadRequest 'chat not found'."""
    if isinstance(exc, Forbidden):
        return True
    return isinstance(exc, BadRequest) and "chat not found" in str(exc).lower()


@dataclass
class SenderStats:
    messages: int = 0
    retry_after: int = 0
    retry_after_seconds: float = 0.0
    migrated: int = 0
    unreachable: int = 0
    replies_dropped: int = 0


# ---------------------------------------------------------------- the sender


class Sender:
    """Paced, retrying wrapper around `telegram.Bot`; every send goes through it."""

    def __init__(
        self,
        bot: Bot,
        settings: TelegramSettings,
        *,
        events: ChatEvents | None = None,
        private_burst: int = 3,
        margin: float = 0.01,
        max_flood_waits: int = 5,
        reply_max_wait: float | None = None,
        on_sent: Callable[[float], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.bot = bot
        self.events = events
        self.flood = FloodControl(
            per_second=settings.max_messages_per_second,
            private_interval=settings.private_chat_interval_seconds,
            private_burst=private_burst,
            group_per_minute=settings.group_messages_per_minute,
            margin=margin,
        )
        self.max_flood_waits = max_flood_waits
        # How long a reply may wait for its chat's budget; None or 0: as long as it takes.
        max_wait = settings.reply_max_wait_seconds if reply_max_wait is None else reply_max_wait
        self.reply_max_wait: float | None = max_wait or None
        self.stats = SenderStats()
        # Called with each successful Bot API call's latency (seconds): the metrics hook.
        self.on_sent = on_sent
        self._clock = clock
        self._gate = PriorityGate()
        self._pace: Pace | None = None
        self._paid = False

    def assume_budget_spent(self) -> None:
        """Treat the token's last window as used by another sender (a previous run
        that died sending): no send for one global window from now."""
        self.flood.pause(self.flood.window_seconds, self._clock())

    def pace_broadcasts(self, pace: Pace, *, paid: bool = False) -> None:
        """Broadcasts take their global slot from `pace` instead of this process's
        window (bot/telegram/pace.py); `paid`: sent with allow_paid_broadcast, on
        their own budget. Replies stay on the local window."""
        self._pace, self._paid = pace, paid

    # -------------------------------------------------- pacing

    async def _acquire(
        self,
        chat_id: int,
        priority: Priority,
        abort: asyncio.Event | None = None,
        deadline: float | None = None,
    ) -> Slot:
        shared = paced = priority is Priority.BROADCAST and self._pace is not None
        while True:
            now = self._clock()
            wait = self.flood.wait_chat(chat_id, now)
            if deadline is not None and now + max(wait, self.flood.paused_for(now)) > deadline:
                raise _ReplyTooLate
            if wait > 0:
                await sleep_or_abort(wait, abort)
                continue
            if paced and self._pace is not None:  # the bot-wide slot, then the chat again
                await self._pace.take(abort)
                paced = False
                continue
            await self._gate.acquire(priority)
            try:
                while True:
                    if abort is not None and abort.is_set():
                        raise SendAborted
                    now = self._clock()
                    if deadline is not None and now + self.flood.paused_for(now) > deadline:
                        raise _ReplyTooLate
                    # A paced broadcast was spaced already; only a flood pause holds it.
                    wait = self.flood.paused_for(now) if shared else self.flood.wait_global(now)
                    if wait > 0:
                        await sleep_or_abort(wait, abort)
                        continue
                    if self.flood.wait_chat(chat_id, now) > 0:
                        break  # another send to this chat got there first; queue again
                    return self._record(chat_id, priority, now)
            finally:
                self._gate.release()

    def _record(self, chat_id: int, priority: Priority, now: float) -> Slot:
        broadcast = priority is Priority.BROADCAST
        if not broadcast and self._pace is not None and not self._paid:
            self._pace.charge(1)  # a reply spends the free budget broadcasts share
        # Paid broadcasts have their own budget: the free window must not count them.
        return self.flood.record(chat_id, now, count_global=not (broadcast and self._paid))

    async def _paced(
        self,
        chat_id: int,
        priority: Priority,
        call: Callable[[int], Awaitable[T]],
        abort: asyncio.Event | None = None,
    ) -> T:
        """Pace, call, honour RetryAfter, follow a migration once, report unreachable.
        A reply that would wait past `reply_max_wait` raises _ReplyTooLate."""
        migrated = False
        flood_waits = 0
        deadline = None
        if priority is Priority.REPLY and self.reply_max_wait is not None:
            deadline = self._clock() + self.reply_max_wait
        while True:
            slot = await self._acquire(chat_id, priority, abort, deadline)
            try:
                started = self._clock()
                result = await call(chat_id)
                self.stats.messages += 1
                if self.on_sent is not None:
                    self.on_sent(self._clock() - started)
                return result
            except RetryAfter as exc:
                seconds = retry_after_seconds(exc)
                self.stats.retry_after += 1
                self.stats.retry_after_seconds += seconds
                pause_all = self.flood.pause(seconds, self._clock(), chat_id)
                logger.warning(
                    "telegram flood wait %.1f s (chat %s%s)",
                    seconds,
                    chat_id,
                    "; pausing every chat" if pause_all else "",
                )
                flood_waits += 1
                if flood_waits > self.max_flood_waits:
                    raise
            except ChatMigrated as exc:
                if migrated or self.events is None:
                    raise
                migrated = True
                self.stats.migrated += 1
                logger.info("chat %s migrated to %s", chat_id, exc.new_chat_id)
                await self.events.chat_migrated(chat_id, exc.new_chat_id)
                chat_id = exc.new_chat_id
            except (Forbidden, BadRequest) as exc:
                if is_unreachable(exc):
                    self.stats.unreachable += 1
                    if self.events is not None:
                        await self.events.chat_unreachable(chat_id, short_error(exc))
                raise
            finally:
                self.flood.complete(slot, self._clock())

    # -------------------------------------------------- messages

    async def send_text(
        self,
        chat_id: int,
        text: str,
        *,
        reply_markup: Any = None,
        priority: Priority = Priority.REPLY,
        reply_to: int | None = None,
        abort: asyncio.Event | None = None,
    ) -> list[Message]:
        """Send HTML text, split on line boundaries; the keyboard goes on the last part.
        A part Telegram cannot parse or finds too long goes out in a form it takes."""
        parts = split_message(text)
        sent: list[Message] = []
        paid = True if self._paid and priority is Priority.BROADCAST else None

        async def send_one(part: str, as_html: bool, last: bool) -> Message:
            first = None if reply_to is None or sent else reply_to  # replies on the first part
            params = (
                None if first is None else ReplyParameters(first, allow_sending_without_reply=True)
            )

            async def call(cid: int) -> Message:
                return await self.bot.send_message(
                    cid,
                    part,
                    parse_mode=ParseMode.HTML if as_html else None,
                    reply_markup=reply_markup if last else None,
                    reply_parameters=params,
                    link_preview_options=NO_PREVIEW,
                    allow_paid_broadcast=paid,
                )

            target = sent[-1].chat_id if sent else chat_id  # a migration moves the rest too
            sent.append(await self._paced(target, priority, call, abort))
            return sent[-1]

        for i, part in enumerate(parts):
            try:
                await send_with_fallbacks(send_one, part, last=i == len(parts) - 1)
            except _ReplyTooLate:
                self._dropped(chat_id, len(parts) - i)
                return sent
        return sent

    async def send_photo(
        self,
        chat_id: int,
        photo: bytes,
        *,
        caption: str | None = None,
        reply_markup: Any = None,
        priority: Priority = Priority.REPLY,
        reply_to: int | None = None,
        filename: str = "chart.png",
    ) -> Message | None:
        """None when a reply was dropped because it could not go out in time."""
        if caption is not None and not fits_caption(caption):
            raise ValueError("caption longer than 1024 characters")
        params = ReplyParameters(reply_to, allow_sending_without_reply=True) if reply_to else None

        async def call(cid: int) -> Message:
            return await self.bot.send_photo(
                cid,
                InputFile(photo, filename=filename),
                caption=caption,
                parse_mode=ParseMode.HTML,
                reply_markup=reply_markup,
                reply_parameters=params,
            )

        try:
            return await self._paced(chat_id, priority, call)
        except _ReplyTooLate:
            self._dropped(chat_id, 1)
            return None

    async def edit_text(
        self, chat_id: int, message_id: int, text: str, *, reply_markup: Any = None
    ) -> None:
        parts = split_message(text)
        if len(parts) > 1:
            text = parts[0]

        async def call(cid: int) -> Any:
            return await self.bot.edit_message_text(
                text,
                chat_id=cid,
                message_id=message_id,
                parse_mode=ParseMode.HTML,
                reply_markup=reply_markup,
                link_preview_options=NO_PREVIEW,
            )

        await self._edit(chat_id, call)

    async def edit_markup(self, chat_id: int, message_id: int, reply_markup: Any) -> None:
        async def call(cid: int) -> Any:
            return await self.bot.edit_message_reply_markup(
                chat_id=cid, message_id=message_id, reply_markup=reply_markup
            )

        await self._edit(chat_id, call)

    async def _edit(self, chat_id: int, call: Callable[[int], Awaitable[Any]]) -> None:
        try:
            await self._paced(chat_id, Priority.REPLY, call)
        except _ReplyTooLate:
            self._dropped(chat_id, 1)
        except BadRequest as exc:
            if "not modified" in str(exc).lower():
                return  # the same content again (a double tap): nothing to do
            raise

    def _dropped(self, chat_id: int, messages: int) -> None:
        self.stats.replies_dropped += messages
        logger.info(
            "reply to chat %s dropped: it would wait over %.0f s for the chat's budget",
            chat_id,
            self.reply_max_wait or 0,
        )

    # -------------------------------------------------- calls that are not messages

    async def answer_callback(
        self, query_id: str, text: str | None = None, *, show_alert: bool = False
    ) -> None:
        """Not a message: Telegram does not count it against the flood limits."""
        try:
            await self.bot.answer_callback_query(query_id, text=text, show_alert=show_alert)
        except BadRequest as exc:  # query too old: the button still worked
            logger.debug("answerCallbackQuery failed: %s", exc)

    async def probe(self) -> None:
        """getMe: is the Bot API answering? Not a message, so not paced."""
        await self.bot.get_me()

    async def get_chat_member_status(self, chat_id: int, user_id: int) -> str:
        member = await self.bot.get_chat_member(chat_id, user_id)
        return str(member.status)
