"""Who may do what: bot operators, group administrators, and a per-user rate limit.

- `admin_only`: the user id is in `telegram.admin_ids` (operators; /status).
- `group_admin_only` / `can_manage_chat`: in groups, only chat administrators (checked
  with getChatMember on every change, never cached) or an anonymous admin posting as
  the group may change subscriptions and settings. Private chats manage themselves.
- `CommandLimiter`: a token bucket per user (`commands_per_minute`), and one per group
  (`group_commands_per_minute`, all members together: Telegram lets the bot post only
  20 messages a minute in a group, so a busy group cannot be answered faster anyway).
  This is abuse limiting, not product state, so it lives in process memory (bounded,
  idle keys pruned); with several replicas each enforces its own share, which is
  acceptable for its purpose. Chats and subscriptions live in the DB.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Awaitable, Callable
from enum import Enum
from typing import Any

from telegram import Update
from telegram.error import TelegramError
from telegram.ext import ContextTypes

logger = logging.getLogger(__name__)

Handler = Callable[[Update, ContextTypes.DEFAULT_TYPE], Awaitable[Any]]
MANAGER_STATUSES = frozenset({"creator", "administrator", "owner"})


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


def is_operator(update: Update, admin_ids: list[int]) -> bool:
    user = update.effective_user
    return user is not None and user.id in admin_ids


async def can_manage_chat(update: Update, context: ContextTypes.DEFAULT_TYPE) -> bool:
    """May this update's sender change the chat's subscriptions and settings?"""
    from bot.telegram.deps import get_deps

    chat = update.effective_chat
    if chat is None:
        return False
    if chat.type == "private":
        return True
    message = update.effective_message
    if update.callback_query is None and message is not None and message.sender_chat:
        # An anonymous administrator posts as the group itself.
        return message.sender_chat.id == chat.id
    user = update.effective_user
    if user is None:
        return False
    try:
        status = await get_deps(context).sender.get_chat_member_status(chat.id, user.id)
    except TelegramError as exc:
        logger.warning("getChatMember(%s, %s) failed: %s", chat.id, user.id, exc)
        return False
    return status in MANAGER_STATUSES


def admin_only(handler: Handler) -> Handler:
    """Bot operators only (`telegram.admin_ids`); others get a polite refusal."""

    @functools.wraps(handler)
    async def wrapper(update: Update, context: ContextTypes.DEFAULT_TYPE) -> Any:
        from bot.telegram import render
        from bot.telegram.deps import get_deps, reply

        if not is_operator(update, get_deps(context).settings.telegram.admin_ids):
            user = update.effective_user
            logger.info("refused operator command from user %s", user.id if user else None)
            await reply(update, context, render.not_admin())
            return None
        return await handler(update, context)

    return wrapper


def group_admin_only(handler: Handler) -> Handler:
    """In groups, chat administrators only; private chats always pass."""

    @functools.wraps(handler)
    async def wrapper(update: Update, context: ContextTypes.DEFAULT_TYPE) -> Any:
        from bot.telegram import render
        from bot.telegram.deps import reply

        if not await can_manage_chat(update, context):
            await reply(update, context, render.group_admins_only())
            return None
        return await handler(update, context)

    return wrapper
