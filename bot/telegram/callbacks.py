"""Inline buttons: what a tap does. What a button carries, and its wire format, is
`bot/telegram/callback_data.py`; each handler takes its typed action and returns the
toast to show (None for none).
"""

from __future__ import annotations

import logging
from typing import assert_never

from telegram import Update
from telegram.error import TelegramError

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
from bot.telegram.commands import TOP_DEFAULT, TOP_MAX, send_symbol_card, top_reply
from bot.telegram.deps import BotContext, Deps
from bot.telegram.subscriptions import ensure_chat
from bot.telegram.symbols import resolve
from bot.telegram.venue_words import venue_universe
from bot.views import actions, settings_actions
from bot.views.actions import UserError

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
        case ShowTop() | FilterTop():
            return await _top(deps, update, action, edit=isinstance(action, FilterTop))
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


async def _top(
    deps: Deps, update: Update, action: ShowTop | FilterTop, *, edit: bool
) -> str | None:
    n = max(1, min(TOP_MAX, TOP_DEFAULT if action.n is None else action.n))
    which = action.which if action.which in render.FILTER_TITLES else "all"
    venue = action.venue
    if venue is not None and actions.venue_word(deps, venue) is None:
        return render.stale_button()  # a forged venue, or one no longer enabled
    text = top_reply(await actions.top(deps, n, which, venue), deps.quotes)
    keyboard = render.top_keyboard(which, n, venue)
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


async def _known(deps: Deps, raw: str, venue: str | None = None) -> str | None:
    """The symbol a button names, in the venue it names (a forged or retired venue word
    makes the button stale)."""
    if venue is not None and actions.venue_word(deps, venue) is None:
        return None
    return resolve(raw, await venue_universe(deps, venue), deps.quotes).symbol


async def symbol_card(deps: Deps, update: Update, action: ShowSymbol) -> str | None:
    symbol = await _known(deps, action.symbol, action.venue)
    chat = update.effective_chat
    if symbol is None or chat is None:
        return render.stale_button()
    await send_symbol_card(deps, chat.id, symbol, exchange=action.venue)
    return None


async def card_subscribe(deps: Deps, update: Update, action: SubscribeSymbol) -> str | None:
    chat = update.effective_chat
    assert chat is not None
    symbol = await _known(deps, action.symbol, action.venue)
    if symbol is None:
        return render.stale_button()
    await ensure_chat(deps, update)
    try:
        result = await actions.subscribe(deps, chat.id, symbol, exchange=action.venue)
        toast = render.subscribe_result(result, plain=True)
    except UserError as error:
        toast = _refusal(error)
    await _swap_card_button(deps, update, symbol, action.venue)
    return toast


async def card_unsubscribe(deps: Deps, update: Update, action: UnsubscribeSymbol) -> str | None:
    chat = update.effective_chat
    assert chat is not None
    if action.venue is not None and actions.venue_word(deps, action.venue) is None:
        return render.stale_button()
    result = await actions.unsubscribe(deps, chat.id, action.symbol, action.venue)
    await _swap_card_button(deps, update, action.symbol, action.venue)
    return render.unsubscribe_result(result, plain=True)


async def _swap_card_button(deps: Deps, update: Update, symbol: str, venue: str | None) -> None:
    chat, message_id = update.effective_chat, _message_id(update)
    if chat is None or message_id is None:
        return
    subscribed = await actions.is_subscribed(deps, chat.id, symbol, venue)
    try:
        await deps.sender.edit_markup(
            chat.id, message_id, render.symbol_keyboard(symbol, subscribed, venue)
        )
    except TelegramError as exc:
        logger.warning("edit of card buttons in %s failed: %s", chat.id, exc)


async def remove(deps: Deps, update: Update, action: RemoveSubscription) -> str | None:
    chat = update.effective_chat
    assert chat is not None
    result = await actions.unsubscribe(deps, chat.id, action.symbol)
    view = await actions.subscriptions(deps, chat.id)
    text = render.subscriptions_text(view.subs, view.min_band, deps.quotes)
    await _edit(deps, update, text, render.subscriptions_keyboard(view.subs, deps.quotes))
    return render.unsubscribe_result(result, plain=True)


async def market(deps: Deps, update: Update, action: SetMarket) -> str | None:
    chat = update.effective_chat
    assert chat is not None
    await ensure_chat(deps, update)
    toast = None
    try:
        await actions.set_market(deps, chat.id, action.choice)
    except UserError as error:
        if error.code == "not_understood":
            return render.stale_button()
        toast = _refusal(error)
    view = await actions.market(deps, chat.id)
    await _edit(deps, update, render.market_text(view.subs), render.market_keyboard(view.subs))
    return toast


async def setting(deps: Deps, update: Update, action: ChangeSetting) -> str | None:
    chat = update.effective_chat
    assert chat is not None
    await ensure_chat(deps, update)
    try:
        change = await settings_actions.apply_setting(deps, chat.id, action.words)
    except UserError as error:
        return _refusal(error)
    view = await settings_actions.settings(deps, chat.id)
    text = render.settings_text(view.chat, view.now_ms, view.default_cap)
    await _edit(deps, update, text, render.settings_keyboard(view.chat, view.now_ms))
    return render.setting_changed(change, plain=True)


async def mute(deps: Deps, update: Update, action: MuteFromAlert) -> str | None:
    chat = update.effective_chat
    assert chat is not None
    await ensure_chat(deps, update)
    try:
        change = await settings_actions.apply_setting(deps, chat.id, ["mute", action.hours])
    except UserError as error:
        return _refusal(error)
    return render.setting_changed(change, plain=True)


def _refusal(error: UserError) -> str:
    """A button only carries words the bot wrote, so words it does not understand mean
    the button is from an older version."""
    if error.code == "not_understood":
        return render.stale_button()
    return render.user_error(error, "settings", plain=True)
