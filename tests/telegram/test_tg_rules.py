"""/rule through the real PTB Application and the fake Bot API: parse errors pointing at
the token, a backtest before the rule is stored, list/remove, group admins, the per-chat
cap, and a stored rule's fire reaching the chat through the outbox."""

from __future__ import annotations

import math
import time
from dataclasses import replace
from typing import Any

import numpy as np
from sqlalchemy import select

from bot.alerts.rules.backtest import HistoryRows
from bot.alerts.rules.fields import COLUMN_INDEX, COLUMN_NAMES
from bot.config import Settings
from bot.cycle.alert_hook import AlertEngine
from bot.replay.rule_history import LoadOnce
from bot.scoring.result import CycleResult
from bot.storage.models import Cycle, Rule
from bot.telegram import render
from bot.views.rule_actions import RuleTest
from fakes.bot_harness import BotWithWorker
from fakes.fake_telegram import FakeTelegram
from tests.alerts.helpers import symbol_score
from tests.telegram.test_tg_commands import ask

USER = 42
HOUR = 3_600_000


def tiny_history() -> HistoryRows:
    """48 hours of SOLUSDT: OI 4h above 8 in hours 10-13 and 30-31, and the price 6%
    higher a day after hour 11 (the second hour above 8: where `for 2 cycles` fires)."""
    n = 48
    values = np.full((len(COLUMN_NAMES), n), math.nan)
    values[COLUMN_INDEX["oi_4h"]] = [
        9.0 if 10 <= h <= 13 or 30 <= h <= 31 else 1.0 for h in range(n)
    ]
    values[COLUMN_INDEX["score"]] = 30.0
    fwd = np.array([6.0 if h == 11 else (1.0 if h < 24 else math.nan) for h in range(n)])
    ts = np.array([1_767_225_600_000 + h * HOUR for h in range(n)], dtype=np.int64)
    return HistoryRows(["SOLUSDT"] * n, ts, values, fwd, np.abs(fwd), ("tiny.csv",))


def with_history(runtime: BotWithWorker) -> None:
    runtime.bot.deps.rule_history = LoadOnce(tiny_history)


async def test_a_bad_rule_is_pointed_at(runtime: BotWithWorker, fake_tg: FakeTelegram):
    with_history(runtime)
    reply = await ask(fake_tg, "/rule test oi_4h > 8 and fundng_8h > 0.03")
    assert "unknown field 'fundng_8h'; did you mean funding_8h" in reply.visible
    assert "<pre>oi_4h &gt; 8 and fundng_8h &gt; 0.03\n              ^^^^^^^^^</pre>" in reply.text
    reply = await ask(fake_tg, "/rule add hot score > 60%")
    assert "score is in points, not percent" in reply.visible
    reply = await ask(fake_tg, "/rule")
    assert reply.visible.startswith("Usage: /rule add NAME")


async def test_test_then_add_list_and_remove(
    runtime: BotWithWorker, fake_tg: FakeTelegram, sessions
):
    with_history(runtime)
    reply = await ask(fake_tg, "/rule test oi_4h > 8 for 2 cycles on sol")
    text = reply.visible
    assert "oi_4h > 8 for 2 cycles on SOLUSDT" in text
    assert "fired 2 times, 1.000 per symbol-day; last 2026-01-02 07:00 UTC on SOL" in text
    assert "After it fired (n=1): median |24h move| 6.00%, P(≥5%) 1.00" in text
    assert "All hours (n=24): median |24h move| 1.00%, P(≥5%) 0.04" in text

    reply = await ask(fake_tg, "/rule add Hot oi_4h > 8 for 2 cycles on sol")
    assert "fired 2 times" in reply.visible and "Rule hot added" in reply.visible
    async with sessions() as s:
        stored = (await s.scalars(select(Rule))).one()
    assert (stored.chat_id, stored.name, stored.exchange, stored.symbol) == (
        USER,
        "hot",
        "binance",
        "SOLUSDT",
    )
    assert (stored.condition, stored.for_cycles) == ("oi_4h > 8", 2)

    reply = await ask(fake_tg, "/rule add hot score > 1")
    assert "already has a rule named hot" in reply.visible
    reply = await ask(fake_tg, "/rule list")
    assert "• hot (SOL): oi_4h > 8 for 2 cycles" in reply.visible
    reply = await ask(fake_tg, "/rule remove hot")
    assert reply.visible == "Rule hot removed."
    reply = await ask(fake_tg, "/rule remove hot")
    assert reply.visible == "No rule named hot."


async def test_unknown_symbol_and_no_history(runtime: BotWithWorker, fake_tg: FakeTelegram):
    reply = await ask(fake_tg, "/rule test score > 50 on solx")
    assert "SOL" in reply.visible  # did you mean
    reply = await ask(fake_tg, "/rule test score > 50")
    assert "No recorded history is available here" in reply.visible
    with_history(runtime)
    reply = await ask(fake_tg, "/rule test score > 50 on btc")
    assert "The recorded history has no such symbol (it has SOL)" in reply.visible


async def test_only_group_admins_add_rules_and_the_cap_holds(
    start: Any, make_settings: Any, fake_tg: FakeTelegram, sessions
):
    from tests.telegram.helpers import add_market

    await add_market(sessions)
    runtime = await start(make_settings())
    runtime.bot.deps.settings.alerts.rules_per_chat = 1
    group, member, admin = -1003, 5, 6
    fake_tg.set_admins(group, admin)
    reply = await ask(fake_tg, "/rule add hot score > 50", chat_id=group, user_id=member)
    assert reply.visible == "Only this group's administrators can change its alerts."
    reply = await ask(fake_tg, "/rule add hot score > 50", chat_id=group, user_id=admin)
    assert "Rule hot added" in reply.visible
    reply = await ask(fake_tg, "/rule add warm score > 40", chat_id=group, user_id=admin)
    assert "the most rules it may keep (1)" in reply.visible
    reply = await ask(fake_tg, "/rule list", chat_id=group, user_id=member)
    assert "hot (market)" in reply.visible
    reply = await ask(fake_tg, "/rule remove hot", chat_id=group, user_id=member)
    assert "administrators" in reply.visible


async def test_a_stored_rule_fires_through_the_outbox(
    runtime: BotWithWorker, fake_tg: FakeTelegram, sessions, settings: Settings
):
    await ask(fake_tg, "/rule add squeezy oi_4h > 8 and funding_8h > 0.005 on sol")
    engine = AlertEngine(settings)
    before = len(fake_tg.messages_to(USER))
    async with sessions() as session, session.begin():
        row = Cycle(
            exchange="binance",
            started_ms=1,
            finished_ms=2,
            status="ok",
            symbols_attempted=1,
            symbols_fetched=1,
            symbols_failed=0,
        )
        session.add(row)
        await session.flush()
        sol = replace(symbol_score("SOLUSDT", 30), oi_4h_pct=9.0)
        result = CycleResult(row.id, "binance", 1, int(time.time() * 1000), 1, scores=[sol])
        assert await engine.in_cycle_transaction(session, result) == 1
    runtime.notify()
    sent = (await fake_tg.wait_for_messages(USER, before + 1))[before]
    assert "SOL · rule squeezy holds · score 30" in sent.visible
    assert "oi_4h > 8 and funding_8h > 0.005 on SOLUSDT" in sent.visible


async def test_a_liquidation_rule_is_not_backtested(
    runtime: BotWithWorker, fake_tg: FakeTelegram, sessions
):
    """Recorded history has no liquidations: the reply says so instead of "never fired",
    and `/rule add` still stores the rule. `/rule fields` lists them, marked live only."""
    with_history(runtime)
    reply = (await ask(fake_tg, "/rule test liq_1h_oi_pct > 1")).visible
    assert (
        "Not measurable on recorded history (no liquidation history): only the live "
        "liquidation streams give liq_1h_oi_pct." in reply
    )
    assert "never fired" not in reply and "All hours" not in reply
    assert "Live, it waits (never fires) while the streams are off or gapped." in reply
    reply = (await ask(fake_tg, "/rule add flush liq_15m_long_oi_pct > 0.3 on sol")).visible
    assert "Not measurable on recorded history" in reply and "Rule flush added" in reply
    fields = (await ask(fake_tg, "/rule fields")).visible
    assert "liq_1h_oi_pct* (percent): liquidations over 1h (both sides), % of OI" in fields
    assert "funding_8h (percent): funding per 8h, %" in fields


def test_a_liquidation_rule_where_no_streams_run_is_said_to_never_fire():
    test = RuleTest("liq_1h_x_normal > 5", None, "live_only", fields=("liq_1h_x_normal",))
    assert "Live, it waits" in render.rule_test(test)
    off = render.rule_test(replace(test, streams=False))
    assert "This bot runs no liquidation streams, so it would never fire here." in off
