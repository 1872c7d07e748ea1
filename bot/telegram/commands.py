"""Read-only commands (/start, /top, /symbol, /status), the gatekeeper that runs before
every update, unknown input, and the error handler. The command list, /help and the
menus are in command_table.py.

Handlers are thin: parse, call `bot/views/actions.py` (or a repo for the admin's /status), hand
the result to `render`, send through `deps.reply` / the sender. Subscription commands
live in `subscriptions.py`.
"""

from __future__ import annotations

import logging

from telegram import MessageEntity, Update
from telegram.error import TelegramError
from telegram.ext import ApplicationHandlerStop

from bot.replica import Replica
from bot.storage import chat_repo, leases, outbox_repo
from bot.storage import market_repo as repo
from bot.storage.leases import LeaseInfo
from bot.telegram import render
from bot.telegram.auth import admin_only
from bot.telegram.deps import BotContext, Deps, reply
from bot.telegram.message_limits import fits_caption
from bot.telegram.rate_limits import Verdict
from bot.telegram.sender import Priority
from bot.telegram.subscriptions import ensure_chat
from bot.telegram.symbols import resolve
from bot.telegram.venue_words import split_venue, venue_universe
from bot.views import actions
from bot.views.actions import SymbolCard
from bot.views.liquidations import StreamStatus, stream_status
from bot.views.positioning import PositioningStatus, positioning_status

logger = logging.getLogger(__name__)

TOP_DEFAULT = 10
TOP_MAX = 50
MAX_ARGS = 8
MAX_TEXT = 1024
# A rule is a sentence (`/rule add hot oi_4h > 8 and funding_8h > 0.03 for 2 cycles`):
# its words are many and short, and the rule parser caps its length (docs/rules.md).
WORDY_COMMANDS = frozenset({"/rule"})
MAX_WORDY_ARGS = 200
# A webhook URL is one long word: Discord's is about 120 characters with its token.
URL_COMMANDS = frozenset({"/webhook"})
MAX_URL_LENGTH = 512
FILTER_WORDS = {
    "all": "all",
    "long": "long",
    "longs": "long",
    "short": "short",
    "shorts": "short",
    "squeeze": "squeeze",
    "squeezes": "squeeze",
    "liq": "liq",
    "liqs": "liq",
    "liquidations": "liq",
}


# ---------------------------------------------------------------- gatekeeper


async def gatekeeper(update: Update, context: BotContext) -> None:
    """Group -1: per-user and per-group rate limits and argument caps for every command
    and button."""
    deps = context.deps
    user = update.effective_user
    message = update.message
    is_command = bool(message and message.text and message.text.startswith("/"))
    if user is None or not (is_command or update.callback_query):
        return
    if is_command and addressed_elsewhere(update, context.bot.username):
        raise ApplicationHandlerStop  # /cmd@otherbot: not ours, not even to count
    verdict = await deps.limiter.verdict(user.id)
    if verdict is not Verdict.ALLOW:
        per_minute = deps.settings.telegram.commands_per_minute
        if update.callback_query is not None:
            await deps.sender.answer_callback(
                update.callback_query.id, render.rate_limited(per_minute)
            )
        elif verdict is Verdict.DENY_NOTIFY:
            await reply(update, context, render.rate_limited(per_minute))
        raise ApplicationHandlerStop
    chat = update.effective_chat
    if chat is not None and chat.type != "private":
        verdict = await deps.chat_limiter.verdict(chat.id)
        if verdict is not Verdict.ALLOW:
            per_minute = deps.settings.telegram.group_commands_per_minute
            if update.callback_query is not None:
                await deps.sender.answer_callback(
                    update.callback_query.id, render.group_rate_limited(per_minute)
                )
            elif verdict is Verdict.DENY_NOTIFY:
                await reply(update, context, render.group_rate_limited(per_minute))
            raise ApplicationHandlerStop
    if is_command and message is not None and message.text is not None:
        limit = deps.settings.telegram.max_argument_length
        words = message.text.split()
        args = words[1:]
        name = words[0].split("@")[0].lower()
        wordy = name in WORDY_COMMANDS
        if name in URL_COMMANDS:
            limit = max(limit, MAX_URL_LENGTH)
        if (
            len(message.text) > MAX_TEXT
            or len(args) > (MAX_WORDY_ARGS if wordy else MAX_ARGS)
            or any(len(a) > limit for a in args)
        ):
            await reply(update, context, render.argument_too_long(limit))
            raise ApplicationHandlerStop


# ---------------------------------------------------------------- onboarding


async def start(update: Update, context: BotContext) -> None:
    await ensure_chat(context.deps, update)
    user = update.effective_user
    text = render.start_text(user.first_name if user else None, context.deps.settings.scoring)
    await reply(update, context, text, render.start_keyboard())


# ---------------------------------------------------------------- /top


def is_number(word: str) -> bool:
    """ASCII digits only: str.isdigit() also accepts '²' and '①', which int() rejects."""
    return word.isascii() and word.isdigit()


def parse_top_args(args: list[str]) -> tuple[int, str] | str:
    """(n, filter), or the argument that could not be understood."""
    n, which = TOP_DEFAULT, "all"
    for arg in args:
        word = arg.lower()
        if is_number(word):
            n = max(1, min(TOP_MAX, int(word)))
        elif word in FILTER_WORDS:
            which = FILTER_WORDS[word]
        else:
            return arg
    return n, which


def top_reply(view: actions.TopView, quotes: tuple[str, ...]) -> str:
    if view.snapshot is None:
        return render.no_data()
    if view.which == "liq":
        return render.top_liq_message(view.snapshot, view.rows, view.liq, view.now_ms, quotes)
    return render.top_message(view.snapshot, view.rows, view.which, view.now_ms, quotes)


async def top(update: Update, context: BotContext) -> None:
    deps = context.deps
    venue, args = split_venue(deps, context.args or [])
    parsed = parse_top_args(args)
    if isinstance(parsed, str):
        await reply(update, context, render.bad_argument(parsed, "top"))
        return
    n, which = parsed
    view = await actions.top(deps, n, which, venue)
    keyboard = render.top_keyboard(which, n, venue if venue != deps.exchange else None)
    await reply(update, context, top_reply(view, deps.quotes), keyboard)


# ---------------------------------------------------------------- /symbol


async def symbol(update: Update, context: BotContext) -> None:
    deps = context.deps
    venue, args = split_venue(deps, context.args or [])
    if not args:
        await reply(update, context, render.usage("symbol"))
        return
    chat = update.effective_chat
    if chat is None:
        return
    universe = await venue_universe(deps, venue)
    match = resolve(" ".join(args[:1]), universe, deps.quotes)
    if match.symbol is None:
        await reply(
            update,
            context,
            render.unknown_symbol(match.query, match.suggestions),
            render.suggestion_keyboard(match.suggestions),
        )
        return
    message = update.effective_message
    reply_to = message.message_id if message is not None and chat.type != "private" else None
    await send_symbol_card(deps, chat.id, match.symbol, reply_to=reply_to, exchange=venue)


async def send_symbol_card(
    deps: Deps,
    chat_id: int,
    symbol: str,
    *,
    reply_to: int | None = None,
    exchange: str | None = None,
) -> None:
    """The card as a chart photo with the card as caption (or as text without history)."""
    card = await actions.symbol_card(deps, chat_id, symbol, exchange)
    try:
        await _send_card(deps, chat_id, card, reply_to)
    except TelegramError as exc:
        logger.warning("symbol card to %s failed: %s", chat_id, exc)


async def _send_card(deps: Deps, chat_id: int, card: SymbolCard, reply_to: int | None) -> None:
    sender = deps.sender
    if card.row is None:
        await sender.send_text(chat_id, render.symbol_not_scanned(card.symbol), reply_to=reply_to)
        return
    text = render.symbol_card(
        card.row,
        card.now_ms,
        cycle_id=card.cycle_id,
        subscribed=card.subscribed,
        params=deps.settings.scoring,
        quotes=deps.quotes,
        exchange=card.exchange,
        venues=card.venues,
        liquidations=card.liquidations,
        lookalike=card.lookalike,
        positioning=card.positioning,
        cascade=card.cascade,
    )
    venue = card.exchange if card.exchange != deps.exchange else None
    keyboard = render.symbol_keyboard(card.symbol, card.subscribed, venue)
    if not card.history:
        await sender.send_text(chat_id, text, reply_markup=keyboard, reply_to=reply_to)
        return
    # Another venue's chart is titled (and cached) apart from the default view's.
    label = card.symbol if card.exchange == deps.exchange else f"{card.symbol} ({card.exchange})"
    png = await deps.charts.get(label, card.history)
    if fits_caption(text):
        await sender.send_photo(
            chat_id, png, caption=text, reply_markup=keyboard, reply_to=reply_to
        )
    else:
        await sender.send_photo(chat_id, png, reply_to=reply_to)
        await sender.send_text(chat_id, text, reply_markup=keyboard)


# ---------------------------------------------------------------- /status


class StatusInfo:
    def __init__(
        self,
        cycle: object,
        deliveries: dict[str, int],
        counts: object,
        replica: Replica | None = None,
        lease: LeaseInfo | None = None,
        venues: list[tuple[str, object]] | None = None,
        liquidations: StreamStatus | None = None,
        positioning: PositioningStatus | None = None,
    ) -> None:
        self.cycle = cycle
        self.deliveries = deliveries
        self.chats_total = counts.chats_total  # type: ignore[attr-defined]
        self.chats_active = counts.chats_active  # type: ignore[attr-defined]
        self.subscriptions = counts.subscriptions  # type: ignore[attr-defined]
        self.replica = replica  # the replica answering
        self.lease = lease  # the scorer lease, as the database sees it now
        self.venues = venues or []  # (venue, its last attempted cycle), several venues only
        self.liquidations = liquidations  # None: [liquidations] enabled = false
        self.positioning = positioning  # fresh long/short ratios per venue


@admin_only
async def status(update: Update, context: BotContext) -> None:
    deps = context.deps
    async with deps.sessions() as session:
        cycle = await repo.last_attempted_cycle(session, deps.exchange)
        deliveries = await outbox_repo.delivery_counts(session)
        counts = await chat_repo.chat_counts(session)
        lease = await leases.current(session, leases.SCORER)
        venues: list[tuple[str, object]] = []
        if deps.exchange == "all":
            for venue in deps.settings.exchange.venues:
                venues.append((venue, await repo.last_attempted_cycle(session, venue)))
        liq = None
        if deps.settings.liquidations.enabled:
            liq = await stream_status(session, deps.settings.exchange.venues, deps.now_ms())
        ls = await positioning_status(session, deps.settings.exchange.venues, deps.now_ms())
    info = StatusInfo(cycle, deliveries, counts, deps.replica, lease, venues, liq, ls)
    await reply(update, context, render.status_text(info, deps.now_ms()))


# ---------------------------------------------------------------- anything else


def addressed_elsewhere(update: Update, bot_username: str | None) -> bool:
    """/cmd@otherbot in a group is not for us."""
    message = update.effective_message
    if message is None or not message.text:
        return False
    for entity in message.entities or ():
        if entity.type == MessageEntity.BOT_COMMAND and entity.offset == 0:
            command = message.text[: entity.length]
            if "@" in command:
                target = command.split("@", 1)[1]
                return bot_username is None or target.lower() != bot_username.lower()
    return False


async def unknown_command(update: Update, context: BotContext) -> None:
    message = update.effective_message
    if message is None or not message.text:
        return
    if addressed_elsewhere(update, context.bot.username):
        return
    command = message.text.split()[0].split("@", 1)[0][:40]
    await reply(update, context, render.unknown_command(command))


async def plain_text(update: Update, context: BotContext) -> None:
    """Private chats only: a nudge towards the commands."""
    await reply(update, context, render.nudge())


async def on_error(update: object, context: BotContext) -> None:
    logger.error("error while handling an update", exc_info=context.error)
    if not isinstance(update, Update) or update.effective_chat is None:
        return
    try:
        if update.callback_query is not None:
            await context.deps.sender.answer_callback(
                update.callback_query.id, render.internal_error()
            )
        else:
            await context.deps.sender.send_text(
                update.effective_chat.id, render.internal_error(), priority=Priority.REPLY
            )
    except Exception:  # the error handler must never raise
        logger.debug("could not tell the user about the error", exc_info=True)
