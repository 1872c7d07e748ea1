"""What a chat can do with rules (docs/rules.md), with no transport in it: add (after a
backtest), list, remove, test. Like `bot/views/actions.py`, each returns data or raises
`UserError`; `bot/telegram/render/rules.py` words them.

The backtest runs over recorded history: the deployment's hourly store for the chats'
exchange merged with the shipped history for the coins it has (`RuleContext.
backtest_rows`, bot/replay/rule_store.py, read once an hour), or the shipped history
alone (`rule_history`) where there is no store to read. The reading and the numpy work
run in threads so a command never stalls the event loop the other chats share.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.alerts.rules.backtest import Backtest, HistoryRows, RuleRows, backtest
from bot.alerts.rules.compiler import compile_condition, leaves
from bot.alerts.rules.fields import LIVE_ONLY
from bot.alerts.rules.tree import Condition, Rule, field_names
from bot.config import Settings
from bot.storage import rule_repo
from bot.storage.rule_repo import StoredRule
from bot.views.actions import UserError

RULE_NAME = re.compile(r"[A-Za-z0-9_-]{1,32}")
HistorySource = Callable[[], Awaitable[HistoryRows | None]]
# (exchange, whether the rule names a percentile field, its symbol or None) -> the
# store's and the shipped history's hours.
BacktestSource = Callable[[str, bool, str | None], Awaitable[RuleRows]]
YOUNG_STORE_DAYS = 14  # fewer stored days: the reply says the store is young


class RuleContext(Protocol):
    settings: Settings
    sessions: async_sessionmaker[AsyncSession]
    rule_history: HistorySource | None
    backtest_rows: BacktestSource | None

    @property
    def exchange(self) -> str: ...

    def now_ms(self) -> int: ...


@dataclass(frozen=True, slots=True)
class RuleTest:
    """A rule's backtest, or why there is none (`missing`: "no_history" when the bot has
    no recorded history, "no_symbol" when it has none for the rule's symbol,
    "live_only" when the rule names a field recorded history lacks, `fields`)."""

    rule: str
    result: Backtest | None
    missing: str | None = None
    known: tuple[str, ...] = ()  # the symbols the history has
    exchange: str | None = None  # the store read (None: the shipped history only)
    stored_days: float = 0.0  # the days that store spans for it
    fields: tuple[str, ...] = ()  # "live_only": the fields history has no values of
    streams: bool = True  # "live_only": whether this deployment runs the streams at all

    @property
    def young_store(self) -> bool:
        return self.exchange is not None and self.stored_days < YOUNG_STORE_DAYS


def check_name(name: str) -> str:
    if RULE_NAME.fullmatch(name) is None:
        raise UserError("bad_rule_name", value=name)
    return name.lower()


def history_symbol(symbol: str, known: list[str]) -> str | None:
    """A rule's symbol (`SOLUSDT` on a venue, `SOL` on the aggregate) in the history."""
    coin = symbol.upper().lstrip("$").removesuffix("USDT")
    for name in known:
        if name.removesuffix("USDT") == coin:
            return name
    return None


async def test_rule(ctx: RuleContext, rule: Rule) -> RuleTest:
    text = str(rule)
    # Checked first: a backtest over a column of unknowns would say "never fired".
    live_only = sorted(field_names(rule.condition) & LIVE_ONLY)
    if live_only:
        streams = ctx.settings.liquidations.enabled
        return RuleTest(text, None, "live_only", fields=tuple(live_only), streams=streams)
    got = await rule_rows(ctx, rule)
    history, where = got.rows, (got.exchange, got.stored_days)
    if history is None or not len(history):
        return RuleTest(text, None, "no_history", (), *where)
    known = sorted(set(history.symbols))
    scope = None
    if rule.symbol is not None:
        found = history_symbol(rule.symbol, known)
        if found is None:
            return RuleTest(text, None, "no_symbol", tuple(known), *where)
        scope = [found]
    result = await asyncio.to_thread(
        backtest, rule.condition, history, for_cycles=rule.for_cycles, symbols=scope
    )
    return RuleTest(text, result, None, tuple(known), *where)


async def rule_rows(ctx: RuleContext, rule: Rule) -> RuleRows:
    if ctx.backtest_rows is not None:
        return await ctx.backtest_rows(ctx.exchange, names_percentile(rule.condition), rule.symbol)
    return RuleRows(await ctx.rule_history() if ctx.rule_history is not None else None)


def names_percentile(condition: Condition) -> bool:
    """Whether the condition reads an own-percentile field (costly to rank: on demand)."""
    parts = {p for leaf in leaves(compile_condition(condition)) for p in leaf.column}
    return any(p.endswith("_pctl_90d") for p in parts)


async def add_rule(ctx: RuleContext, chat_id: int, name: str, rule: Rule) -> StoredRule:
    """Store the rule (its symbol already resolved to the default view's universe)."""
    cap = ctx.settings.alerts.rules_per_chat
    async with ctx.sessions() as session, session.begin():
        stored, problem = await rule_repo.add_rule(
            session,
            chat_id,
            check_name(name),
            ctx.exchange,
            rule.symbol,
            str(rule.condition),
            rule.for_cycles,
            ctx.now_ms(),
            cap=cap,
        )
    if problem == "exists":
        raise UserError("rule_exists", name=name)
    if problem == "over_cap" or stored is None:
        raise UserError("rule_cap", cap=cap)
    return stored


async def list_rules(ctx: RuleContext, chat_id: int) -> list[StoredRule]:
    async with ctx.sessions() as session:
        return await rule_repo.list_rules(session, chat_id)


async def remove_rule(ctx: RuleContext, chat_id: int, name: str | None) -> int:
    async with ctx.sessions() as session, session.begin():
        return await rule_repo.remove_rule(session, chat_id, name.lower() if name else None)
