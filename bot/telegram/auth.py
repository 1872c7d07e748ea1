"""Who may do what: bot operators and group administrators.

- `admin_only`: the user id is in `telegram.admin_ids` (operators; /status).
- `group_admin_only` / `can_manage_chat`: in groups, only chat administrators (checked
  with getChatMember on every change, never cached) or an anonymous admin posting as
  the group may change subscriptions and settings. Private chats manage themselves.

Per-user and per-group command rate limits live in rate_limits.py.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from telegram import Update
from telegram.error import TelegramError

from bot.telegram import render
from bot.telegram.deps import BotContext, reply

logger = logging.getLogger(__name__)

# PTB's handler callback shape (telegram.ext._utils.types.HandlerCallback) for our context.
Handler = Callable[[Update, BotContext], Coroutine[Any, Any, None]]
MANAGER_STATUSES = frozenset({"creator", "administrator", "owner"})


def is_operator(update: Update, admin_ids: list[int]) -> bool:
    user = update.effective_user
    return user is not None and user.id in admin_ids


async def can_manage_chat(update: Update, context: BotContext) -> bool:
    """May this update's sender change the chat's subscriptions and settings?"""
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
        status = await context.deps.sender.get_chat_member_status(chat.id, user.id)
    except TelegramError as exc:
        logger.warning("getChatMember(%s, %s) failed: %s", chat.id, user.id, exc)
        return False
    return status in MANAGER_STATUSES


def admin_only(handler: Handler) -> Handler:
    """Bot operators only (`telegram.admin_ids`); others get a polite refusal."""

    @functools.wraps(handler)
    async def wrapper(update: Update, context: BotContext) -> None:
        if not is_operator(update, context.deps.settings.telegram.admin_ids):
            user = update.effective_user
            logger.info("refused operator command from user %s", user.id if user else None)
            await reply(update, context, render.not_admin())
            return
        await handler(update, context)

    return wrapper


def group_admin_only(handler: Handler) -> Handler:
    """In groups, chat administrators only; private chats always pass."""

    @functools.wraps(handler)
    async def wrapper(update: Update, context: BotContext) -> None:
        if not await can_manage_chat(update, context):
            await reply(update, context, render.group_admins_only())
            return
        await handler(update, context)

    return wrapper
