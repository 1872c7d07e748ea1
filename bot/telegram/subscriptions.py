"""Commands that change what a chat receives: /subscribe, /unsubscribe, /subscriptions,
/market, /settings. In groups every change is for chat administrators only.

The `apply_*` functions do the work and are shared with the inline buttons
(`callbacks.py`); they return the text to show.
"""

from __future__ import annotations

import re

from telegram import Update

from bot.config import BAND_NAMES
from bot.storage import chat_repo
from bot.storage.chat_repo import MARKET
from bot.telegram import render
from bot.telegram.auth import can_manage_chat, group_admin_only
from bot.telegram.deps import BotContext, Deps, reply
from bot.telegram.symbols import clean, resolve
from bot.zones import canonical

KIND_WORDS = {
    "bands": ["bands"],
    "band": ["bands"],
    "squeeze": ["squeeze"],
    "squeezes": ["squeeze"],
    "both": ["bands", "squeeze"],
    "all": ["bands", "squeeze"],
}
MUTE_MAX_HOURS = 24 * 7
DAILY_CAP_MAX = 500
TZ_WORDS = ("tz", "timezone", "time_zone", "zone")
_QUIET = re.compile(r"^(\d{1,2})(?::(\d{2}))?-(\d{1,2})(?::(\d{2}))?$")


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


# ---------------------------------------------------------------- shared actions


async def apply_subscribe(deps: Deps, chat_id: int, symbol: str, kinds: list[str]) -> str:
    cap = deps.settings.telegram.subscriptions_per_chat
    async with deps.sessions() as session, session.begin():
        result = await chat_repo.subscribe(
            session, chat_id, deps.exchange, symbol, kinds, deps.now_ms(), cap=cap
        )
        chat = await chat_repo.get_chat(session, chat_id)
    if result.over_cap:
        return render.subscription_cap(cap)
    min_band = chat.min_band if chat else deps.settings.alerts.default_min_band
    return render.subscribed(symbol, kinds, min_band, already=not result.added)


async def apply_unsubscribe(deps: Deps, chat_id: int, symbol: str | None) -> str:
    async with deps.sessions() as session, session.begin():
        removed = await chat_repo.unsubscribe(session, chat_id, deps.exchange, symbol)
    return render.unsubscribed(symbol, removed)


async def subscriptions_view(deps: Deps, chat_id: int) -> tuple[str, object]:
    async with deps.sessions() as session:
        subs = await chat_repo.list_subscriptions(session, chat_id, deps.exchange)
        chat = await chat_repo.get_chat(session, chat_id)
    min_band = chat.min_band if chat else deps.settings.alerts.default_min_band
    return (
        render.subscriptions_text(subs, min_band, deps.quotes),
        render.subscriptions_keyboard(subs, deps.quotes),
    )


async def market_view_text(deps: Deps, chat_id: int) -> tuple[str, object]:
    async with deps.sessions() as session:
        subs = [
            s
            for s in await chat_repo.list_subscriptions(session, chat_id, deps.exchange)
            if s.symbol == MARKET
        ]
    return render.market_text(subs), render.market_keyboard(subs)


async def apply_market(deps: Deps, chat_id: int, arg: str) -> str | None:
    """Change the market-wide subscription; None when `arg` is not understood."""
    arg = arg.lower()
    if arg == "on":
        arg = deps.settings.alerts.default_market_min_band
    cap = deps.settings.telegram.subscriptions_per_chat
    async with deps.sessions() as session, session.begin():
        if arg in ("stretched", "stressed"):
            result = await chat_repo.subscribe(
                session,
                chat_id,
                deps.exchange,
                MARKET,
                ["bands"],
                deps.now_ms(),
                cap=cap,
                min_band=arg,
            )
        elif arg == "squeeze":
            result = await chat_repo.subscribe(
                session, chat_id, deps.exchange, MARKET, ["squeeze"], deps.now_ms(), cap=cap
            )
        elif arg == "off":
            await chat_repo.unsubscribe(session, chat_id, deps.exchange, MARKET)
            return "ok"
        else:
            return None
    return render.subscription_cap(cap) if result.over_cap else "ok"


async def apply_setting(deps: Deps, chat_id: int, args: list[str]) -> str | None:
    """Change one setting from words like ['band', 'lean'] or ['mute', '8'].
    Returns a confirmation, or None when the words are not understood."""
    words = [a.lower() for a in args]
    if words and words[0] in ("band", "min", "minband", "min_band"):
        words = words[1:]
    if len(words) == 1 and words[0] in BAND_NAMES:
        return await _set(deps, chat_id, render.min_band_set(words[0]), min_band=words[0])
    key, value = ([*words, "", ""])[:2]
    if key in ("direction", "dir"):
        key, value = value, ""
    if key in ("up", "both") and not value:
        return await _set(deps, chat_id, render.direction_set(key), direction=key)
    if key == "unmute" or (key == "mute" and value in ("off", "0", "no")):
        return await _set(deps, chat_id, render.unmuted(), muted_until_ms=None)
    if key == "mute" and value.isascii() and value.isdigit() and 1 <= int(value) <= MUTE_MAX_HOURS:
        until = deps.now_ms() + int(value) * 3_600_000
        return await _set(deps, chat_id, render.mute_set(int(value)), muted_until_ms=until)
    if key in TZ_WORDS and len(args) >= 2:
        typed = args[1]  # zone names are matched case-insensitively, shown canonically
        tz = canonical(typed)
        if tz is None:
            return render.unknown_timezone(typed)
        return await _set(deps, chat_id, render.timezone_set(tz), tz=tz)
    if key in ("cap", "dailycap", "daily_cap", "limit"):
        if value in ("off", "none", "no", "0"):
            return await _set(deps, chat_id, render.daily_cap_set(0), daily_cap=0)
        if value.isascii() and value.isdigit() and 1 <= int(value) <= DAILY_CAP_MAX:
            cap = int(value)
            return await _set(deps, chat_id, render.daily_cap_set(cap), daily_cap=cap)
        return None
    if key == "quiet":
        if value in ("off", "no", "none"):
            return await _set(
                deps, chat_id, render.quiet_hours_off(), quiet_start_min=None, quiet_end_min=None
            )
        m = _QUIET.match(value)
        if m:
            start = int(m[1]) * 60 + int(m[2] or 0)
            end = int(m[3]) * 60 + int(m[4] or 0)
            minutes_ok = all(int(x or 0) < 60 for x in (m[2], m[4]))
            # 0-24 would wrap to an empty 0-0 window, which means "no quiet hours".
            if minutes_ok and start <= 24 * 60 and end <= 24 * 60 and start % 1440 != end % 1440:
                start, end = start % 1440, end % 1440
                async with deps.sessions() as session:
                    chat = await chat_repo.get_chat(session, chat_id)
                return await _set(
                    deps,
                    chat_id,
                    render.quiet_hours_set(value, chat.tz if chat else None),
                    quiet_start_min=start,
                    quiet_end_min=end,
                )
    return None


async def _set(deps: Deps, chat_id: int, label: str, **values: object) -> str:
    async with deps.sessions() as session, session.begin():
        await chat_repo.update_chat_settings(session, chat_id, **values)
    return render.settings_changed(label)


async def settings_view(deps: Deps, chat_id: int) -> tuple[str, object]:
    async with deps.sessions() as session:
        chat = await chat_repo.get_chat(session, chat_id)
    assert chat is not None
    now = deps.now_ms()
    cap = deps.settings.alerts.daily_cap
    return render.settings_text(chat, now, cap), render.settings_keyboard(chat, now)


# ---------------------------------------------------------------- commands


def _split_kinds(args: list[str]) -> tuple[list[str], list[str]]:
    kinds: list[str] = []
    symbols: list[str] = []
    for arg in args:
        if arg.lower() in KIND_WORDS:
            kinds += KIND_WORDS[arg.lower()]
        else:
            symbols.append(arg)
    return symbols, sorted(set(kinds)) or ["bands", "squeeze"]


@group_admin_only
async def subscribe(update: Update, context: BotContext) -> None:
    symbols, kinds = _split_kinds(context.args or [])
    if not symbols:
        await reply(update, context, render.usage("subscribe"))
        return
    deps = context.deps
    chat = update.effective_chat
    assert chat is not None
    universe = await deps.market.universe()
    await ensure_chat(deps, update)
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
        answers.append(await apply_subscribe(deps, chat.id, match.symbol, kinds))
    if answers:
        await reply(update, context, "\n".join(answers))


@group_admin_only
async def unsubscribe(update: Update, context: BotContext) -> None:
    args = context.args or []
    if not args:
        await reply(update, context, render.usage("unsubscribe"))
        return
    deps = context.deps
    chat = update.effective_chat
    assert chat is not None
    if args[0].lower() == "all":
        await reply(update, context, await apply_unsubscribe(deps, chat.id, None))
        return
    async with deps.sessions() as session:
        subs = await chat_repo.list_subscriptions(session, chat.id, deps.exchange)
    universe = await deps.market.universe()
    mine = {s.symbol for s in subs if s.symbol != MARKET}
    # First what this chat follows (a delisted symbol can still be removed), then the market.
    match = resolve(args[0], mine, deps.quotes)
    if match.symbol is None:
        match = resolve(args[0], universe, deps.quotes)
    if match.symbol is None:
        await reply(
            update, context, render.unknown_symbol(clean(args[0]) or args[0], match.suggestions)
        )
        return
    await reply(update, context, await apply_unsubscribe(deps, chat.id, match.symbol))


async def subscriptions(update: Update, context: BotContext) -> None:
    deps = context.deps
    chat = update.effective_chat
    assert chat is not None
    text, keyboard = await subscriptions_view(deps, chat.id)
    await reply(update, context, text, keyboard)


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
        outcome = await apply_market(deps, chat.id, args[0])
        if outcome is None:
            await reply(update, context, render.bad_argument(args[0], "market"))
            return
        if outcome != "ok":
            await reply(update, context, outcome)
            return
    text, keyboard = await market_view_text(deps, chat.id)
    await reply(update, context, text, keyboard)


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
        confirmation = await apply_setting(deps, chat.id, args)
        if confirmation is None:
            await reply(update, context, render.bad_argument(" ".join(args), "settings"))
            return
        await reply(update, context, confirmation)
        return
    text, keyboard = await settings_view(deps, chat.id)
    await reply(update, context, text, keyboard)
