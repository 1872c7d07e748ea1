"""The built-in funding rules (bot/alerts/rules/builtins.py) as a chat and the web page
see them: each with its measured evidence (the rule backtest over recorded history,
bot/alerts/rules/backtest.py, as `/rule test` runs it), and per chat whether it is on.

Switching one on stores it as the chat's rule under the built-in's name (market-wide,
or on one symbol); off removes that rule. The evidence is computed once per process over
the shipped history alone (the same on every deployment), in a thread; `/rule on`
answers with `/rule test`'s backtest, which adds the deployment's hourly store.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import numpy as np

from bot.alerts.rules.backtest import Backtest, HistoryRows, backtest
from bot.alerts.rules.builtins import BUILTINS, Builtin, find, unavailable
from bot.alerts.rules.compiler import compile_condition, leaves
from bot.alerts.rules.fields import COLUMN_INDEX
from bot.alerts.rules.parser import parse_condition
from bot.alerts.rules.tree import Rule
from bot.storage.rule_repo import StoredRule
from bot.views.actions import UserError
from bot.views.rule_actions import HistorySource, RuleContext, add_rule, list_rules, remove_rule


@dataclass(frozen=True, slots=True)
class BuiltinView:
    name: str
    condition: str
    says: str
    missing: str | None  # why this version cannot run it yet; None: it can
    evidence: Backtest | None  # None: not measured (unavailable, no history, or no data)
    no_data: bool = False  # the recorded history lacks a field it names (all unknown)
    on: tuple[str, ...] = ()  # this chat: "market" or the symbols it is switched on for


def measure(history: HistoryRows | None) -> dict[str, Backtest | None]:
    """Each runnable built-in's backtest over `history`, market-wide; None where the
    history has no value of a field the built-in names (nothing to measure)."""
    out: dict[str, Backtest | None] = {}
    for b in BUILTINS:
        if unavailable(b) is not None or history is None or not len(history):
            continue
        condition = parse_condition(b.condition)
        names = {
            part for leaf in leaves(compile_condition(condition)) for part in leaf.column
        } & set(COLUMN_INDEX)
        if any(np.isnan(history.values[COLUMN_INDEX[n]]).all() for n in names):
            out[b.name] = None
            continue
        out[b.name] = backtest(condition, history)
    return out


class BuiltinEvidence:
    """The built-ins' backtests, computed once (in a thread) over `history`, or read from
    `measured` (the service's: measured where the history is scored, in a child
    process, bot/replay/history_child.py). `peek` never waits: None until measured,
    starting the work on first call (the web page)."""

    def __init__(
        self,
        history: HistorySource | None = None,
        *,
        measured: Callable[[], Awaitable[dict[str, Backtest | None]]] | None = None,
    ) -> None:
        self._history = history
        self._measured = measured
        self._value: dict[str, Backtest | None] | None = None
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[dict[str, Backtest | None]] | None = None

    async def get(self) -> dict[str, Backtest | None]:
        async with self._lock:
            if self._value is None and self._measured is not None:
                self._value = await self._measured()
            elif self._value is None:
                rows = await self._history() if self._history is not None else None
                self._value = await asyncio.to_thread(measure, rows)
            return self._value

    def peek(self) -> dict[str, Backtest | None] | None:
        if self._value is None and (self._task is None or self._task.done()):
            self._task = asyncio.get_running_loop().create_task(self.get())
        return self._value


def views(
    measured: dict[str, Backtest | None] | None, mine: Sequence[StoredRule] = ()
) -> list[BuiltinView]:
    """Every built-in with its evidence (`measured`: None while not measured yet) and,
    for a chat, where it is on (its rules named like a built-in, same condition)."""
    out = []
    for b in BUILTINS:
        on = tuple(
            r.symbol or "market" for r in mine if r.name == b.name and r.condition == _text(b)
        )
        missing = unavailable(b)
        got = None if measured is None else measured.get(b.name)
        no_data = measured is not None and b.name in measured and got is None
        out.append(BuiltinView(b.name, b.condition, b.says, missing, got, no_data, on))
    return out


def _text(b: Builtin) -> str:
    """The condition as a stored rule holds it (canonical text)."""
    return str(parse_condition(b.condition))


async def chat_builtins(
    ctx: RuleContext, chat_id: int, evidence: BuiltinEvidence | None
) -> list[BuiltinView]:
    measured = await evidence.get() if evidence is not None else None
    return views(measured, await list_rules(ctx, chat_id))


def builtin_rule(name: str, symbol: str | None) -> tuple[Builtin, Rule]:
    """The built-in as a rule to store; `UserError` for an unknown or unavailable one."""
    found = find(name)
    if found is None:
        raise UserError("unknown_builtin", name=name, names=", ".join(b.name for b in BUILTINS))
    missing = unavailable(found)
    if missing is not None:
        raise UserError("builtin_unavailable", name=found.name, why=missing)
    return found, Rule(parse_condition(found.condition), 1, symbol)


async def switch_on(ctx: RuleContext, chat_id: int, builtin: Builtin, rule: Rule) -> StoredRule:
    return await add_rule(ctx, chat_id, builtin.name, rule)


async def switch_off(ctx: RuleContext, chat_id: int, name: str) -> int:
    found = find(name)
    if found is None:
        raise UserError("unknown_builtin", name=name, names=", ".join(b.name for b in BUILTINS))
    return await remove_rule(ctx, chat_id, found.name)
