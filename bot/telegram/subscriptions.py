"""Commands that change what a chat receives: /subscribe, /unsubscribe, /subscriptions,
/market, /settings. In groups every change is for chat administrators only.

Handlers parse, call `bot/views/actions.py` (shared with the inline buttons in `callbacks.py`)
and send what `render` words.
"""

from __future__ import annotations

from telegram import Update

from bot.storage import chat_repo
from bot.telegram import render
from bot.telegram.auth import can_manage_chat, group_admin_only
from bot.telegram.deps import BotContext, Deps, reply
from bot.telegram.symbols import clean, resolve
from bot.telegram.venue_words import split_venue, venue_universe
from bot.views import actions, pending_actions, settings_actions
from bot.views.actions import UserError

KIND_WORDS = {
    "bands": ["bands"],
    "band": ["bands"],
    "squeeze": ["squeeze"],
    "squeezes": ["squeeze"],
    "liquidations": ["liquidations"],
    "liquidation": ["liquidations"],
    "liq": ["liquidations"],
    "cascade": ["liquidations"],
    "cascades": ["liquidations"],
    "both": ["bands", "squeeze"],
    "all": ["bands", "squeeze", "liquidations"],
}


async def ensure_chat(deps: Deps, update: Update) -> None:
    chat = update.effective_chat
    if chat is None:
        return
    async with deps.sessions() as session, session.begin():
        await chat_repo.upsert_chat(
            session,
            chat.id,
            chat.type,
            chat.title or chat.username,
            deps.now_ms(),
            deps.settings.alerts.default_min_band,
        )


# ---------------------------------------------------------------- commands


def _split_kinds(args: list[str]) -> tuple[list[str], list[str]]:
    kinds: list[str] = []
    symbols: list[str] = []
    for arg in args:
        if arg.lower() in KIND_WORDS:
            kinds += KIND_WORDS[arg.lower()]
        else:
            symbols.append(arg)
    return symbols, sorted(set(kinds))  # none named: the configured default kinds


@group_admin_only
async def subscribe(update: Update, context: BotContext) -> None:
    deps = context.deps
    venue, args = split_venue(deps, context.args or [])
    symbols, kinds = _split_kinds(args)
    if not symbols:
        await reply(update, context, render.usage("subscribe"))
        return
    chat = update.effective_chat
    assert chat is not None
    universe = await venue_universe(deps, venue)
    await ensure_chat(deps, update)
    if not universe:  # before the first scan: "unknown symbol" would be untrue
        # Kept, and answered once a cycle shows the symbols (bot/telegram/pending_resolver.py).
        queries = [clean(raw) or raw for raw in symbols]
        await pending_actions.keep(deps, chat.id, queries, kinds, venue)
        await reply(update, context, render.market_loading(queries, deps.first_scan_eta()))
        return
    answers = []
    for raw in symbols:
        match = resolve(raw, universe, deps.quotes)
        if match.symbol is None:
            await reply(
                update,
                context,
                render.unknown_symbol(match.query, match.suggestions),
                render.suggestion_keyboard(match.suggestions),
            )
            continue
        try:
            result = await actions.subscribe(deps, chat.id, match.symbol, kinds or None, venue)
        except UserError as error:
            answers.append(render.user_error(error, "subscribe"))
        else:
            answers.append(render.subscribe_result(result))
    if answers:
        await reply(update, context, "\n".join(answers))


@group_admin_only
async def unsubscribe(update: Update, context: BotContext) -> None:
    deps = context.deps
    venue, args = split_venue(deps, context.args or [])
    if not args and venue == "all":  # `/unsubscribe all` with several venues enabled
        venue, args = None, ["all"]
    if not args:
        await reply(update, context, render.usage("unsubscribe"))
        return
    chat = update.effective_chat
    assert chat is not None
    if args[0].lower() == "all":
        result = await actions.unsubscribe(deps, chat.id, None, venue)
        await reply(update, context, render.unsubscribe_result(result))
        return
    mine = await actions.followed_symbols(deps, chat.id, venue)
    universe = await venue_universe(deps, venue)
    # First what this chat follows (a delisted symbol can still be removed), then the market.
    match = resolve(args[0], mine, deps.quotes)
    if match.symbol is None:
        match = resolve(args[0], universe, deps.quotes)
    if match.symbol is None:
        await reply(
            update, context, render.unknown_symbol(clean(args[0]) or args[0], match.suggestions)
        )
        return
    result = await actions.unsubscribe(deps, chat.id, match.symbol, venue)
    await reply(update, context, render.unsubscribe_result(result))


async def subscriptions(update: Update, context: BotContext) -> None:
    deps = context.deps
    chat = update.effective_chat
    assert chat is not None
    venue, _ = split_venue(deps, context.args or [])
    view = await actions.subscriptions(deps, chat.id, venue)
    text = render.subscriptions_text(view.subs, view.min_band, deps.quotes)
    if venue is not None and venue != deps.exchange:
        # The remove buttons act on the default view: another venue's list has none.
        await reply(update, context, render.venue_subscriptions_header(venue) + "\n" + text)
        return
    others = await actions.subscriptions_elsewhere(deps, chat.id)
    if others:
        text += "\n" + render.other_venue_subscriptions(others)
    await reply(update, context, text, render.subscriptions_keyboard(view.subs, deps.quotes))


async def market(update: Update, context: BotContext) -> None:
    deps = context.deps
    chat = update.effective_chat
    assert chat is not None
    args = context.args or []
    if args:
        if not await can_manage_chat(update, context):
            await reply(update, context, render.group_admins_only())
            return
        await ensure_chat(deps, update)
        try:
            await actions.set_market(deps, chat.id, args[0])
        except UserError as error:
            await reply(update, context, render.user_error(error, "market"))
            return
    view = await actions.market(deps, chat.id)
    await reply(update, context, render.market_text(view.subs), render.market_keyboard(view.subs))


async def settings(update: Update, context: BotContext) -> None:
    deps = context.deps
    chat = update.effective_chat
    assert chat is not None
    args = context.args or []
    if args and not await can_manage_chat(update, context):
        await reply(update, context, render.group_admins_only())
        return
    await ensure_chat(deps, update)
    if args:
        try:
            change = await settings_actions.apply_setting(deps, chat.id, args)
        except UserError as error:
            await reply(update, context, render.user_error(error, "settings"))
            return
        await reply(update, context, render.setting_changed(change))
        return
    view = await settings_actions.settings(deps, chat.id)
    await reply(
        update,
        context,
        render.settings_text(view.chat, view.now_ms, view.default_cap),
        render.settings_keyboard(view.chat, view.now_ms),
    )
