"""Updates about the bot's own membership: blocked/unblocked, kicked/added, migrated."""

from __future__ import annotations

from telegram import Update

from bot.telegram.deps import BotContext


async def on_my_chat_member(update: Update, context: BotContext) -> None:
    """A user blocked or unblocked the bot, or a group kicked or re-added it."""
    change = update.my_chat_member
    if change is None:
        return
    deps = context.deps
    chat = change.chat
    await deps.chats.membership_changed(
        chat.id,
        chat.type,
        chat.title or chat.username,
        str(change.new_chat_member.status),
        deps.now_ms(),
        deps.settings.alerts.default_min_band,
    )


async def on_migrate(update: Update, context: BotContext) -> None:
    """A group became a supergroup: its id changes; carry everything over."""
    message = update.effective_message
    if message is None:
        return
    chats = context.deps.chats
    if message.migrate_to_chat_id:
        await chats.chat_migrated(message.chat_id, message.migrate_to_chat_id)
    elif message.migrate_from_chat_id:
        await chats.chat_migrated(message.migrate_from_chat_id, message.chat_id)
