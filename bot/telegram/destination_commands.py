"""/webhook add|list|test|remove: Discord and HTTPS destinations for this chat's alerts
(docs/alerts.md, "Destinations"). In groups only administrators use it, since a
destination receives everything the group does.

The HTTPS signing secret is shown once: in the reply when added from a private chat;
when added in a group, sent to the admin's private chat instead (never to the group),
and the group is told so. If that private message cannot be sent (the admin never
started the bot), the reply says to remove and re-add it from a private chat.
The /webhook add message itself stays in the chat's history with its URL (a Discord
URL holds its token): adding from a private chat keeps it out of a group's (README).
"""

from __future__ import annotations

from telegram import Update
from telegram.error import TelegramError

from bot.destinations.sinks import Verdict
from bot.telegram import render
from bot.telegram.auth import can_manage_chat
from bot.telegram.deps import BotContext, reply
from bot.telegram.destination_sends import DestinationSends
from bot.telegram.sender import Priority
from bot.telegram.subscriptions import ensure_chat
from bot.views import destination_actions
from bot.views.actions import UserError


async def webhook(update: Update, context: BotContext) -> None:
    args = context.args or []
    action = args[0].lower() if args else ""
    cap = context.deps.settings.destinations.per_chat
    if action not in ("add", "list", "test", "remove", "rm", "delete"):
        await reply(update, context, render.webhook_usage(cap))
    elif not await can_manage_chat(update, context):
        await reply(update, context, render.group_admins_only())
    elif action == "add" and len(args) == 3:
        await _add(update, context, args[1], args[2])
    elif action == "list":
        views = await destination_actions.list_destinations(context.deps, _chat_id(update))
        await reply(update, context, render.destination_list(views, cap))
    elif action == "test":
        await _test(update, context)
    elif action in ("remove", "rm", "delete") and len(args) == 2:
        try:
            view = await destination_actions.remove_destination(
                context.deps, _chat_id(update), args[1]
            )
        except UserError as error:
            await reply(update, context, render.destination_refused(error.code, error.params))
            return
        await reply(update, context, render.destination_removed(view))
    else:
        await reply(update, context, render.webhook_usage(cap))


def _chat_id(update: Update) -> int:
    chat = update.effective_chat
    assert chat is not None
    return chat.id


async def _add(update: Update, context: BotContext, kind: str, url: str) -> None:
    deps = context.deps
    chat = update.effective_chat
    user = update.effective_user
    assert chat is not None
    await ensure_chat(deps, update)
    try:
        added = await destination_actions.add_destination(deps, chat.id, kind, url)
    except UserError as error:
        await reply(update, context, render.destination_refused(error.code, error.params))
        return
    private = chat.type == "private"
    if added.secret is not None and not private and user is not None:
        try:
            sent = await deps.sender.send_text(
                user.id,
                render.secret_in_private(added.view, chat.title or "this group", added.secret),
                priority=Priority.REPLY,
            )
        except TelegramError:  # never started the bot, or blocked it
            sent = []
        if not sent:
            await reply(update, context, render.secret_not_delivered(added.view))
            return
    await reply(update, context, render.destination_added(added.view, added.secret, private))


async def _test(update: Update, context: BotContext) -> None:
    deps = context.deps
    chat_id = _chat_id(update)
    stored = await destination_actions.stored_destinations(deps, chat_id)
    views = await destination_actions.list_destinations(deps, chat_id)
    sends = DestinationSends(deps.sessions, deps.sender, deps.settings, deps.resolver, deps.now_ms)
    results = []
    try:
        for dest, view in zip(stored, views, strict=True):
            if not dest.active:
                continue
            key = f"pressurebot-test-{dest.id}-{deps.now_ms()}"  # each test is news
            result = await sends.post(dest, [], key, test=True)
            results.append((view, result.detail, result.verdict is Verdict.SENT))
    finally:
        await sends.close()
    await reply(update, context, render.destination_tested(results))
