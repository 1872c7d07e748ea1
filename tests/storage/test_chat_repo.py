"""Chat migration and the subscription cap (bot/storage/chat_repo.py)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.storage import chat_repo
from bot.storage.models import Chat, Delivery, Subscription
from tests.telegram.helpers import Alert, add_chat, add_deliveries, empty_cycle

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")


async def test_migrate_into_an_existing_chat_merges(sessions):
    cycle = await empty_cycle(sessions)
    await add_chat(sessions, -10, min_band="lean")
    await add_chat(sessions, -100010, "supergroup")
    async with sessions() as s, s.begin():
        for chat_id, symbol in ((-10, "BTCUSDT"), (-10, "ETHUSDT"), (-100010, "BTCUSDT")):
            await chat_repo.subscribe(s, chat_id, "binance", symbol, ["bands"], 0, cap=10)
    await add_deliveries(sessions, cycle, [-10], [Alert("BTCUSDT")])
    async with sessions() as s, s.begin():
        await chat_repo.migrate_chat(s, -10, -100010)
    async with sessions() as s:
        subs = sorted((x.chat_id, x.symbol) for x in (await s.scalars(select(Subscription))))
        old = await s.get(Chat, -10)
        deliveries = (await s.scalars(select(Delivery))).all()
    assert subs == [(-100010, "BTCUSDT"), (-100010, "ETHUSDT")]
    assert old is not None and not old.active and "migrated" in (old.deactivated_reason or "")
    assert [(d.chat_id, d.status) for d in deliveries] == [(-100010, "pending")]


async def test_subscription_cap_counts_symbols(sessions):
    await add_chat(sessions, 5)
    async with sessions() as s, s.begin():
        a = await chat_repo.subscribe(s, 5, "binance", "BTCUSDT", ["bands", "squeeze"], 0, cap=2)
        b = await chat_repo.subscribe(
            s, 5, "binance", "*", ["bands"], 0, cap=2, min_band="stressed"
        )
        c = await chat_repo.subscribe(s, 5, "binance", "ETHUSDT", ["bands"], 0, cap=2)
        d = await chat_repo.subscribe(s, 5, "binance", "*", ["bands"], 0, cap=2, min_band="lean")
        subs = await chat_repo.list_subscriptions(s, 5)
    assert a.added == ["bands", "squeeze"] and b.added == ["bands"]
    assert c.over_cap and d.existing == ["bands"]
    assert [(x.symbol, x.kind, x.min_band) for x in subs] == [
        ("*", "bands", "lean"),
        ("BTCUSDT", "bands", None),
        ("BTCUSDT", "squeeze", None),
    ]


async def test_migrate_moves_rules_unless_the_name_is_taken(sessions):
    from bot.storage import rule_repo
    from bot.storage.models import Rule

    await add_chat(sessions, -10)
    await add_chat(sessions, -100010, "supergroup")
    async with sessions() as s, s.begin():
        for chat_id, name in ((-10, "hot"), (-10, "warm"), (-100010, "hot")):
            await rule_repo.add_rule(s, chat_id, name, "binance", None, "score > 1", 1, 0, cap=5)
    async with sessions() as s, s.begin():
        await chat_repo.migrate_chat(s, -10, -100010)
    async with sessions() as s:
        rules = sorted((r.chat_id, r.name) for r in (await s.scalars(select(Rule))))
    assert rules == [(-100010, "hot"), (-100010, "warm"), (-10, "hot")]


async def test_migrate_moves_destinations_both_ways(sessions):
    from bot.storage import destination_repo
    from bot.storage.models import Destination

    for old, new, exists in ((-20, -100020, True), (-30, -100030, False)):
        await add_chat(sessions, old)
        if exists:
            await add_chat(sessions, new, "supergroup")
        async with sessions() as s, s.begin():
            await destination_repo.add(s, old, "https", "example.com/•••", "u", "s", 0)
        async with sessions() as s, s.begin():
            await chat_repo.migrate_chat(s, old, new)
        async with sessions() as s:
            owners = [
                d.chat_id
                for d in await s.scalars(
                    select(Destination).where(Destination.chat_id.in_([old, new]))
                )
            ]
        assert owners == [new]
