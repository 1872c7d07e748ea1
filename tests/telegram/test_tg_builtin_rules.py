"""/rule builtin|on|off through the real PTB Application and the fake Bot API: the list
with each built-in's measured evidence, switching one on stores it as the chat's rule,
an unavailable one is refused with why, and off removes it."""

from __future__ import annotations

import math

import numpy as np
from sqlalchemy import select

from bot.alerts.rules.backtest import HistoryRows
from bot.alerts.rules.fields import COLUMN_INDEX, COLUMN_NAMES
from bot.replay.rule_history import LoadOnce
from bot.storage.models import Rule
from bot.views.builtin_rules import BuiltinEvidence
from fakes.bot_harness import BotWithWorker
from fakes.fake_telegram import FakeTelegram
from tests.telegram.test_tg_commands import ask

USER = 42
HOUR = 3_600_000


def flip_history() -> HistoryRows:
    """48 hours of SOLUSDT: funding -0.01%/8h until hour 19, +0.01% from hour 20 (one
    flip, at hour 20), and a 6% move in the day after it; 1% after every other hour."""
    n = 48
    values = np.full((len(COLUMN_NAMES), n), math.nan)
    funding = np.array([-0.01 if h < 20 else 0.01 for h in range(n)])
    values[COLUMN_INDEX["funding_8h"]] = funding
    values[COLUMN_INDEX["funding_8h_prev"]] = np.concatenate(([math.nan], funding[:-1]))
    values[COLUMN_INDEX["score"]] = 30.0
    fwd = np.array([6.0 if h == 20 else (1.0 if h < 24 else math.nan) for h in range(n)])
    ts = np.array([1_767_225_600_000 + h * HOUR for h in range(n)], dtype=np.int64)
    return HistoryRows(["SOLUSDT"] * n, ts, values, fwd, np.abs(fwd), ("flip.csv",))


def with_history(runtime: BotWithWorker) -> None:
    rows = LoadOnce(flip_history)
    runtime.bot.deps.rule_history = rows
    runtime.bot.deps.builtin_evidence = BuiltinEvidence(rows)


async def test_the_list_carries_each_ones_evidence(runtime: BotWithWorker, fake_tg: FakeTelegram):
    with_history(runtime)
    reply = await ask(fake_tg, "/rule builtin")
    text = reply.visible
    print("\n--- /rule builtin ---\n" + text)
    assert "funding-flip: funding changes sign since the cycle before" in text
    assert (
        "fired once (0.500 per symbol-day, 2026); after it a ≥5% move within 24h 100% of "
        "the time (all hours 4%), median |24h| 6.0% (1.0%)"
    ) in text
    # The history has no predicted funding: nothing to measure, and it says so.
    assert "not measured: the recorded history has no such data" in text
    assert "not available" not in text  # every field a built-in reads exists


async def test_on_stores_it_off_removes_it(runtime: BotWithWorker, fake_tg: FakeTelegram, sessions):
    with_history(runtime)
    reply = await ask(fake_tg, "/rule on funding-flip")
    assert "fired 1 times" in reply.visible and "Rule funding-flip added" in reply.visible
    async with sessions() as s:
        stored = (await s.scalars(select(Rule))).one()
    assert (stored.name, stored.symbol, stored.for_cycles) == ("funding-flip", None, 1)
    assert "funding_8h_prev" in stored.condition
    reply = await ask(fake_tg, "/rule builtin")
    assert "funding-flip ✅ on (market)" in reply.visible
    reply = await ask(fake_tg, "/rule on funding-top-2pct")
    assert "Rule funding-top-2pct added" in reply.visible
    reply = await ask(fake_tg, "/rule off funding-top-2pct")
    assert reply.visible == "Rule funding-top-2pct removed."
    reply = await ask(fake_tg, "/rule on funding-sideways")
    assert reply.visible.startswith("No built-in rule is named funding-sideways; there are ")
    reply = await ask(fake_tg, "/rule off funding-flip")
    assert reply.visible == "Rule funding-flip removed."
    async with sessions() as s:
        assert (await s.scalars(select(Rule))).all() == []
