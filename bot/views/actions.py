"""What a user can ask of the bot, with no transport in it: each action does the database
work and the decisions, and returns a dataclass, or raises `UserError` with a
machine-readable code (freqtrade's `_rpc_*` methods and `RPCException`).

Telegram (`bot/telegram/`) parses a command or a button, calls an action and hands the
result to `bot/telegram/render/` for words; a web page can call the same actions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.alerts.types import MARKET, CascadeState
from bot.config import Settings
from bot.liquidations.figures import LiqReader
from bot.liquidations.windows import LiqFigures
from bot.scoring.aggregate import ALL
from bot.scoring.formula import Band
from bot.storage import cascade_repo, chat_repo, pending_repo
from bot.storage import market_repo as repo
from bot.storage.market_repo import HistoryPoint
from bot.storage.models import Chat, Subscription
from bot.views import market as market_view  # `market` below is the /market use-case
from bot.views import positioning as ls_view
from bot.views.liquidation_fields import RowFields
from bot.views.liquidations import (
    ChartPoint,
    chart_points,
    ranked_by_liquidations,
    row_fields,
    symbol_figures,
)
from bot.views.lookalike import Lookalike, StateLibrary, lookalike_for
from bot.views.market import (
    MarketRow,
    MarketSnapshot,
    RowFilter,
    VenuePart,
)

ALL_KINDS = ("bands", "squeeze", "liquidations")


class UserError(Exception):
    """A request the bot refuses; `code` says which, `params` fill in the words.

    Codes: "over_cap" (cap), "not_understood" (words), "unknown_timezone" (value),
    "already_resolved" (a kept /subscribe another process answered)."""

    def __init__(self, code: str, **params: Any) -> None:
        super().__init__(code)
        self.code = code
        self.params = params


class MarketSource(Protocol):
    async def snapshot(self) -> MarketSnapshot | None: ...


class ActionContext(Protocol):
    """What actions need from their caller (`bot.telegram.deps.Deps` is one)."""

    settings: Settings
    sessions: async_sessionmaker[AsyncSession]
    chart_hours: int
    # Reads the stored liquidation streams; None when this bot runs without them.
    liq_reader: LiqReader | None
    # The lookalike states if loaded (never waits: bot/views/lookalike.py); None: off.
    lookalikes: Callable[[], StateLibrary | None] | None

    @property
    def market(self) -> MarketSource: ...

    @property
    def exchange(self) -> str: ...

    def now_ms(self) -> int: ...


# ---------------------------------------------------------------- results


@dataclass(frozen=True, slots=True)
class SubscribeResult:
    symbol: str
    kinds: list[str]
    min_band: str
    already: bool


@dataclass(frozen=True, slots=True)
class UnsubscribeResult:
    symbol: str | None  # None: every subscription of the chat
    removed: int


@dataclass(frozen=True, slots=True)
class SubscriptionsView:
    subs: list[Subscription]
    min_band: str


@dataclass(frozen=True, slots=True)
class MarketView:
    subs: list[Subscription]  # the chat's market-wide subscriptions only


@dataclass(frozen=True, slots=True)
class SettingChanged:
    """`setting` is one of min_band, direction, unmute, mute, timezone, daily_cap,
    quiet_off, quiet; `value` is what it became (as typed for quiet hours)."""

    setting: str
    value: Any = None
    tz: str | None = None


@dataclass(frozen=True, slots=True)
class SettingsView:
    chat: Chat
    now_ms: int
    default_cap: int


@dataclass(frozen=True, slots=True)
class TopView:
    snapshot: MarketSnapshot | None  # None: no cycle stored yet
    rows: list[MarketRow]
    which: str
    n: int
    now_ms: int
    # `/top liq`: each row's liquidation fields; None when no stream is configured.
    liq: dict[str, RowFields] | None = None


@dataclass(frozen=True, slots=True)
class SymbolCard:
    symbol: str
    row: MarketRow | None  # None: not scanned yet
    # The chart's points: `HistoryPoint`s, with each interval's long and short
    # liquidations appended when a stream is configured (bot/views/liquidations.py).
    history: Sequence[HistoryPoint | ChartPoint] = field(default_factory=list)
    subscribed: bool = False
    cycle_id: int | None = None
    now_ms: int = 0
    exchange: str = "binance"
    # The aggregate's ("all") parts, one per venue, largest first; missing ones last.
    venues: list[VenuePart] = field(default_factory=list)
    # Liquidations up to now (bot/liquidations/windows.py); None: no stream configured.
    liquidations: LiqFigures | None = None
    # "The last N times it looked like this"; None without enough history (or not loaded).
    lookalike: Lookalike | None = None
    # ls_account_ratio, ls_top_position_ratio (bot/views/positioning.py); None: unknown.
    positioning: RowFields | None = None
    # A cascade on, or a squeeze flushed recently (bot/alerts/cascade.py); None: quiet.
    cascade: CascadeState | None = None


def venue_word(ctx: ActionContext, word: str) -> str | None:
    """The exchange a word names among those this bot shows: an enabled venue, or "all"
    (the cross-venue aggregate) when several are enabled; None otherwise."""
    venues = ctx.settings.exchange.venues
    name = word.lower()
    if name in venues or (name == "all" and len(venues) > 1):
        return name
    return None


# ---------------------------------------------------------------- subscriptions


async def subscribe(
    ctx: ActionContext,
    chat_id: int,
    symbol: str,
    kinds: Sequence[str] | None = None,
    exchange: str | None = None,
    *,
    pending_id: int | None = None,
) -> SubscribeResult:
    """Follow `symbol`: `kinds`, else `alerts.default_kinds`. `pending_id`: a request kept
    before the market was loaded, deleted in this same transaction (UserError
    "already_resolved" when another process took it first)."""
    kinds = list(kinds) if kinds else list(ctx.settings.alerts.default_kinds)
    cap = ctx.settings.telegram.subscriptions_per_chat
    ex = exchange or ctx.exchange
    async with ctx.sessions() as session, session.begin():
        if pending_id is not None and not await pending_repo.take(session, pending_id):
            raise UserError("already_resolved")
        result = await chat_repo.subscribe(
            session, chat_id, ex, symbol, list(kinds), ctx.now_ms(), cap=cap
        )
        chat = await chat_repo.get_chat(session, chat_id)
    if result.over_cap:
        raise UserError("over_cap", cap=cap)
    min_band = chat.min_band if chat else ctx.settings.alerts.default_min_band
    return SubscribeResult(symbol, list(kinds), min_band, already=not result.added)


async def unsubscribe(
    ctx: ActionContext, chat_id: int, symbol: str | None, exchange: str | None = None
) -> UnsubscribeResult:
    async with ctx.sessions() as session, session.begin():
        removed = await chat_repo.unsubscribe(session, chat_id, exchange or ctx.exchange, symbol)
    return UnsubscribeResult(symbol, removed)


async def subscriptions(
    ctx: ActionContext, chat_id: int, exchange: str | None = None
) -> SubscriptionsView:
    async with ctx.sessions() as session:
        subs = await chat_repo.list_subscriptions(session, chat_id, exchange or ctx.exchange)
        chat = await chat_repo.get_chat(session, chat_id)
    min_band = chat.min_band if chat else ctx.settings.alerts.default_min_band
    return SubscriptionsView(list(subs), min_band)


async def subscriptions_elsewhere(ctx: ActionContext, chat_id: int) -> dict[str, int]:
    """Subscriptions per exchange other than the default view's (several venues only):
    Binance ones made before venues keep alerting, and the chat should see them."""
    venues = ctx.settings.exchange.venues
    if len(venues) < 2:
        return {}
    counts: dict[str, int] = {}
    async with ctx.sessions() as session:
        for venue in venues:
            subs = await chat_repo.list_subscriptions(session, chat_id, venue)
            if subs:
                counts[venue] = len(subs)
    return counts


async def followed_symbols(
    ctx: ActionContext, chat_id: int, exchange: str | None = None
) -> set[str]:
    """The symbols a chat follows one by one (a delisted one included)."""
    view = await subscriptions(ctx, chat_id, exchange)
    return {s.symbol for s in view.subs if s.symbol != MARKET}


async def market(ctx: ActionContext, chat_id: int) -> MarketView:
    async with ctx.sessions() as session:
        subs = await chat_repo.list_subscriptions(session, chat_id, ctx.exchange)
    return MarketView([s for s in subs if s.symbol == MARKET])


async def set_market(ctx: ActionContext, chat_id: int, choice: str) -> None:
    """Change the market-wide subscription from on/off/stretched/stressed/squeeze/
    liquidations (each kind is added beside the others; off removes them all)."""
    typed, choice = choice, choice.lower()
    if choice == "on":
        choice = ctx.settings.alerts.default_market_min_band
    cap = ctx.settings.telegram.subscriptions_per_chat
    if choice in ("liq", "cascade", "cascades", "liquidation"):
        choice = "liquidations"
    if choice not in ("off", "squeeze", "liquidations", Band.STRETCHED, Band.STRESSED):
        raise UserError("not_understood", words=typed)
    async with ctx.sessions() as session, session.begin():
        if choice == "off":
            await chat_repo.unsubscribe(session, chat_id, ctx.exchange, MARKET)
            return
        kinds, band = ([choice], None) if choice in ALL_KINDS else (["bands"], choice)
        extra = {"min_band": band} if band else {}
        result = await chat_repo.subscribe(
            session, chat_id, ctx.exchange, MARKET, kinds, ctx.now_ms(), cap=cap, **extra
        )
    if result.over_cap:
        raise UserError("over_cap", cap=cap)


# ---------------------------------------------------------------- market data


async def top(ctx: ActionContext, n: int, which: str, exchange: str | None = None) -> TopView:
    """The default view comes from the shared cache; another venue is read as asked."""
    if exchange is None or exchange == ctx.exchange:
        snapshot = await ctx.market.snapshot()
    else:
        async with ctx.sessions() as session:
            snapshot = await market_view.latest_market(session, exchange)
    if which == "liq":
        return await _top_liq(ctx, snapshot, n)
    rows = [] if snapshot is None else market_view.filter_rows(snapshot.rows, _filter(which))
    return TopView(snapshot, rows[:n], which, n, ctx.now_ms())


async def _top_liq(ctx: ActionContext, snapshot: MarketSnapshot | None, n: int) -> TopView:
    """`/top liq`: rows with liquidations in the last hour (bot/views/liquidations.py)."""
    if snapshot is None or ctx.liq_reader is None:
        return TopView(snapshot, [], "liq", n, ctx.now_ms())
    async with ctx.sessions() as session:
        liq = await row_fields(session, snapshot, ctx.liq_reader)
    rows = ranked_by_liquidations(snapshot.rows, liq)
    return TopView(snapshot, rows[:n], "liq", n, ctx.now_ms(), liq)


def _filter(which: str) -> RowFilter:
    return which if which in ("long", "short", "squeeze") else "all"  # type: ignore[return-value]


async def symbol_card(
    ctx: ActionContext, chat_id: int, symbol: str, exchange: str | None = None
) -> SymbolCard:
    ex = exchange or ctx.exchange
    parts: list[VenuePart] = []
    async with ctx.sessions() as session:
        row, history = await market_view.symbol_detail(session, ex, symbol, ctx.chart_hours)
        subscribed = await chat_repo.is_subscribed(session, chat_id, ex, symbol)
        cycle = await repo.latest_cycle(session, ex)
        if ex == ALL and cycle is not None:
            parts = (await market_view.aggregate_parts(session, cycle.id)).get(symbol, [])
        liq = ls = None
        cascade = await cascade_repo.one(session, ex, symbol)
        points: Sequence[HistoryPoint | ChartPoint] = history
        if row is not None and ctx.liq_reader is not None:
            liq = await symbol_figures(session, ex, row, parts, ctx.now_ms(), ctx.liq_reader)
            points = await chart_points(session, ex, symbol, history, parts)
        if row is not None:
            ls = await ls_view.symbol_fields(session, ex, row, parts, ctx.now_ms())
    library = ctx.lookalikes() if row is not None and ctx.lookalikes is not None else None
    base = ctx.settings.scoring.funding_base_8h
    return SymbolCard(
        symbol,
        row,
        points,
        subscribed=subscribed,
        cycle_id=cycle.id if cycle else None,
        now_ms=ctx.now_ms(),
        exchange=ex,
        venues=parts,
        liquidations=liq,
        lookalike=lookalike_for(library, symbol, row, base, ex),
        positioning=ls,
        cascade=cascade,
    )


async def is_subscribed(
    ctx: ActionContext, chat_id: int, symbol: str, exchange: str | None = None
) -> bool:
    async with ctx.sessions() as session:
        return await chat_repo.is_subscribed(session, chat_id, exchange or ctx.exchange, symbol)
