"""The outbox queries the outbox worker's reliability rests on, on SQLite and PostgreSQL:
expiry, making backed-off rows due, the group's age, and the chat's own symbols."""

from __future__ import annotations

import time

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.storage import outbox_repo
from bot.storage.models import Delivery, Subscription
from tests.telegram.helpers import Alert, add_deliveries, empty_cycle

HOUR_MS = 3_600_000


async def rows(sessions: async_sessionmaker[AsyncSession]) -> dict[int, tuple[str, str | None]]:
    async with sessions() as s:
        found = (await s.scalars(select(Delivery).order_by(Delivery.id))).all()
    return {d.id: (d.status, d.reason) for d in found}


async def test_expiry_drops_old_unclaimed_rows_only(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    now = int(time.time() * 1000)
    c1, c2, c3 = [await empty_cycle(sessions) for _ in range(3)]
    old = await add_deliveries(sessions, c1, [1], [Alert("BTCUSDT")], now_ms=now - 7 * HOUR_MS)
    claimed = await add_deliveries(sessions, c2, [2], [Alert("BTCUSDT")], now_ms=now - 7 * HOUR_MS)
    fresh = await add_deliveries(sessions, c3, [3], [Alert("BTCUSDT")], now_ms=now)
    async with sessions() as s, s.begin():
        await s.execute(
            Delivery.__table__.update()
            .where(Delivery.id.in_(claimed))
            .values(reason=outbox_repo.CLAIM_REASON)
        )
    async with sessions() as s, s.begin():
        assert await outbox_repo.expire_stale(s, now - 6 * HOUR_MS) == 1
    state = await rows(sessions)
    assert state[old[0]] == ("dropped", "stale")
    assert state[claimed[0]] == ("pending", "claimed")  # its outbox worker decides
    assert state[fresh[0]] == ("pending", None)


async def test_claim_reports_the_groups_oldest_row_and_due_now_resumes_backoff(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    now = int(time.time() * 1000)
    cycle = await empty_cycle(sessions)
    first = await add_deliveries(sessions, cycle, [5], [Alert("BTCUSDT")], now_ms=now - 5000)
    second = await add_deliveries(sessions, cycle, [5], [Alert("ETHUSDT")], now_ms=now - 1000)
    async with sessions() as s, s.begin():
        [group] = await outbox_repo.claim_due(s, now, max_groups=5, lease_ms=60_000)
    assert group.delivery_ids == first + second and group.created_ms == now - 5000
    async with sessions() as s, s.begin():
        await outbox_repo.mark_retry(s, group.delivery_ids, now + 60_000, "NetworkError: x")
    async with sessions() as s, s.begin():
        assert await outbox_repo.claim_due(s, now, max_groups=5, lease_ms=60_000) == []
        assert await outbox_repo.due_now(s, group.delivery_ids, now) == 2
    async with sessions() as s, s.begin():
        [again] = await outbox_repo.claim_due(s, now, max_groups=5, lease_ms=60_000)
    assert again.delivery_ids == group.delivery_ids and again.attempts == 2


async def test_items_know_the_chats_own_symbols_and_the_event_time(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    now = int(time.time() * 1000)
    cycle = await empty_cycle(sessions)
    ids = await add_deliveries(
        sessions, cycle, [7, 8], [Alert("BTCUSDT"), Alert("ETHUSDT")], now_ms=now - 60_000
    )
    async with sessions() as s, s.begin():
        s.add(
            Subscription(
                chat_id=7, exchange="binance", symbol="ETHUSDT", kind="squeeze", created_ms=0
            )
        )
        s.add(Subscription(chat_id=8, exchange="binance", symbol="*", kind="bands", created_ms=0))
    async with sessions() as s:
        items = await outbox_repo.load_items(s, ids)
    own = {(i.symbol, i.own) for i in items}
    assert len(items) == 4 and {i.event_ms for i in items} == {now - 60_000}
    # Chat 7 named ETHUSDT (any kind); chat 8 is market-wide only.
    assert sorted(own) == [("BTCUSDT", False), ("ETHUSDT", False), ("ETHUSDT", True)]
