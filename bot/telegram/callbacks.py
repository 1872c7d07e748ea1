"""Inline buttons: what a tap does. What a button carries, and its wire format, is
`bot/telegram/callback_data.py`; each handler takes its typed action and returns the
toast to show (None for none).
"""

from __future__ import annotations

import html
import logging
import re
from typing import assert_never

from telegram import Update
from telegram.error import TelegramError

from bot.storage import chat_repo
from bot.telegram import render
from bot.telegram.auth import can_manage_chat
from bot.telegram.callback_data import (
    Action,
    ChangeSetting,
    FilterTop,
    MuteFromAlert,
    RemoveSubscription,
    SetMarket,
    ShowSymbol,
    ShowTop,
    SubscribeSymbol,
    UnsubscribeSymbol,
    changes_chat,
    unpack,
)
from bot.telegram.commands import TOP_DEFAULT, TOP_MAX, send_symbol_card, top_text
from bot.telegram.deps import BotContext, Deps
from bot.telegram.subscriptions import (
    apply_market,
    apply_setting,
    apply_subscribe,
    apply_unsubscribe,
    ensure_chat,
    market_view_text,
    settings_view,
    subscriptions_view,
)
from bot.telegram.symbols import resolve

logger = logging.getLogger(__name__)


async def on_button(update: Update, context: BotContext) -> None:
    query = update.callback_query
    chat = update.effective_chat
    if query is None or chat is None:
        return
    deps = context.deps
    if changes_chat(query.data) and not await can_manage_chat(update, context):
        await deps.sender.answer_callback(query.id, render.group_admins_only(), show_alert=True)
        return
    action = unpack(query.data)
    if action is None:
        await deps.sender.answer_callback(query.id, render.stale_button())
        return
    toast = await _run(deps, update, action)
    await deps.sender.answer_callback(query.id, toast)


async def _run(deps: Deps, update: Update, action: Action) -> str | None:
    match action:
        case ShowTop():
            return await _top(deps, update, action.n, action.which, edit=False)
        case FilterTop():
            return await _top(deps, update, action.n, action.which, edit=True)
        case ShowSymbol():
            return await symbol_card(deps, update, action)
        case SubscribeSymbol():
            return await card_subscribe(deps, update, action)
        case UnsubscribeSymbol():
            return await card_unsubscribe(deps, update, action)
        case RemoveSubscription():
            return await remove(deps, update, action)
        case SetMarket():
            return await market(deps, update, action)
        case ChangeSetting():
            return await setting(deps, update, action)
        case MuteFromAlert():
            return await mute(deps, update, action)
        case _:  # a new action without a handler fails the type check here
            assert_never(action)


def _message_id(update: Update) -> int | None:
    query = update.callback_query
    message = query.message if query else None
    return message.message_id if message is not None else None


async def _edit(deps: Deps, update: Update, text: str, keyboard: object) -> None:
    chat, message_id = update.effective_chat, _message_id(update)
    if chat is None or message_id is None:
        return
    try:
        await deps.sender.edit_text(chat.id, message_id, text, reply_markup=keyboard)
    except TelegramError as exc:
        logger.warning("edit in chat %s failed: %s", chat.id, exc)


async def _top(deps: Deps, update: Update, n: int | None, which: str, *, edit: bool) -> str | None:
    n = max(1, min(TOP_MAX, TOP_DEFAULT if n is None else n))
    which = which if which in render.FILTER_TITLES else "all"
    text = await top_text(deps, n, which)
    keyboard = render.top_keyboard(which, n)
    chat = update.effective_chat
    assert chat is not None
    if edit:
        await _edit(deps, update, text, keyboard)
    else:
        try:
            await deps.sender.send_text(chat.id, text, reply_markup=keyboard)
        except TelegramError as exc:
            logger.warning("top to %s failed: %s", chat.id, exc)
    return None


async def _known(deps: Deps, raw: str) -> str | None:
    universe = await deps.market.universe()
    return resolve(raw, universe, deps.quotes).symbol


async def symbol_card(deps: Deps, update: Update, action: ShowSymbol) -> str | None:
    symbol = await _known(deps, action.symbol)
    chat = update.effective_chat
    if symbol is None or chat is None:
        return render.stale_button()
    await send_symbol_card(deps, chat.id, symbol)
    return None


async def card_subscribe(deps: Deps, update: Update, action: SubscribeSymbol) -> str | None:
    chat = update.effective_chat
    assert chat is not None
    symbol = await _known(deps, action.symbol)
    if symbol is None:
        return render.stale_button()
    await ensure_chat(deps, update)
    text = await apply_subscribe(deps, chat.id, symbol, ["bands", "squeeze"])
    await _swap_card_button(deps, update, symbol)
    return _plain(text)


async def card_unsubscribe(deps: Deps, update: Update, action: UnsubscribeSymbol) -> str | None:
    chat = update.effective_chat
    assert chat is not None
    text = await apply_unsubscribe(deps, chat.id, action.symbol)
    await _swap_card_button(deps, update, action.symbol)
    return _plain(text)


async def _swap_card_button(deps: Deps, update: Update, symbol: str) -> None:
    chat, message_id = update.effective_chat, _message_id(update)
    if chat is None or message_id is None:
        return
    async with deps.sessions() as session:
        subscribed = await chat_repo.is_subscribed(session, chat.id, deps.exchange, symbol)
    try:
        await deps.sender.edit_markup(
            chat.id, message_id, render.symbol_keyboard(symbol, subscribed)
        )
    except TelegramError as exc:
        logger.warning("edit of card buttons in %s failed: %s", chat.id, exc)


async def remove(deps: Deps, update: Update, action: RemoveSubscription) -> str | None:
    chat = update.effective_chat
    assert chat is not None
    text = await apply_unsubscribe(deps, chat.id, action.symbol)
    view, keyboard = await subscriptions_view(deps, chat.id)
    await _edit(deps, update, view, keyboard)
    return _plain(text)


async def market(deps: Deps, update: Update, action: SetMarket) -> str | None:
    chat = update.effective_chat
    assert chat is not None
    await ensure_chat(deps, update)
    outcome = await apply_market(deps, chat.id, action.choice)
    if outcome is None:
        return render.stale_button()
    text, keyboard = await market_view_text(deps, chat.id)
    await _edit(deps, update, text, keyboard)
    return None if outcome == "ok" else _plain(outcome)


async def setting(deps: Deps, update: Update, action: ChangeSetting) -> str | None:
    chat = update.effective_chat
    assert chat is not None
    await ensure_chat(deps, update)
    confirmation = await apply_setting(deps, chat.id, list(action.words))
    if confirmation is None:
        return render.stale_button()
    text, keyboard = await settings_view(deps, chat.id)
    await _edit(deps, update, text, keyboard)
    return _plain(confirmation)


async def mute(deps: Deps, update: Update, action: MuteFromAlert) -> str | None:
    chat = update.effective_chat
    assert chat is not None
    await ensure_chat(deps, update)
    confirmation = await apply_setting(deps, chat.id, ["mute", action.hours])
    return _plain(confirmation) if confirmation else render.stale_button()


def _plain(html_text: str) -> str:
    """Callback toasts are plain text (no parse mode), at most 200 characters."""
    return html.unescape(re.sub(r"<[^>]+>", "", html_text))[:200]
