"""Claiming outbox groups (bot/storage/outbox_repo.py)."""

from __future__ import annotations

import asyncio
import time

import pytest
from sqlalchemy import func, select

from bot.storage import outbox_repo
from bot.storage.db import session_factory
from bot.storage.models import Delivery
from tests.telegram.helpers import Alert, add_deliveries, empty_cycle

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")


async def test_claim_takes_whole_chat_cycle_groups(sessions):
    cycle = await empty_cycle(sessions)
    now = int(time.time() * 1000)
    await add_deliveries(
        sessions,
        cycle,
        [1, 2, 3],
        [Alert("BTCUSDT"), Alert("ETHUSDT"), Alert("SOLUSDT")],
        now_ms=now,
    )
    async with sessions() as s, s.begin():
        groups = await outbox_repo.claim_due(s, now, max_groups=2, lease_ms=60_000)
    assert [(g.chat_id, len(g.delivery_ids), g.attempts) for g in groups] == [(1, 3, 1), (2, 3, 1)]
    async with sessions() as s, s.begin():
        again = await outbox_repo.claim_due(s, now, max_groups=10, lease_ms=60_000)
        assert [g.chat_id for g in again] == [3]
        assert await outbox_repo.claim_due(s, now, max_groups=10, lease_ms=60_000) == []
        assert await outbox_repo.release_claims(s, now) == 9
        reclaimed = await outbox_repo.claim_due(s, now, max_groups=10, lease_ms=60_000)
    assert [g.attempts for g in reclaimed] == [2, 2, 2]


async def test_claim_skips_rows_not_due_yet(sessions):
    cycle = await empty_cycle(sessions)
    now = int(time.time() * 1000)
    ids = await add_deliveries(sessions, cycle, [1], [Alert("BTCUSDT")], now_ms=now)
    async with sessions() as s, s.begin():
        await outbox_repo.mark_retry(s, ids, now + 5000, "TimedOut")
        assert await outbox_repo.claim_due(s, now, max_groups=5, lease_ms=1) == []
        assert await outbox_repo.next_due_ms(s) == now + 5000
        assert len(await outbox_repo.claim_due(s, now + 5000, max_groups=5, lease_ms=1)) == 1


# ---------------------------------------------------------------- several workers


async def _outbox(sessions, chats: int = 12, cycles: int = 2) -> tuple[int, set[tuple[int, int]]]:
    """`chats` x `cycles` groups of 2 deliveries each, all due now."""
    now = int(time.time() * 1000)
    groups: set[tuple[int, int]] = set()
    for _ in range(cycles):
        cycle = await empty_cycle(sessions)
        chat_ids = list(range(1, chats + 1))
        await add_deliveries(
            sessions, cycle, chat_ids, [Alert("BTCUSDT"), Alert("ETHUSDT")], now_ms=now
        )
        groups.update((c, cycle) for c in chat_ids)
    return now, groups


async def _claimer(sessions, holder: str, now: int) -> list[outbox_repo.ClaimedGroup]:
    got: list[outbox_repo.ClaimedGroup] = []
    while True:
        async with sessions() as s, s.begin():
            batch = await outbox_repo.claim_due(
                s, now, max_groups=3, lease_ms=60_000, holder=holder
            )
        if not batch:
            return got
        got.extend(batch)
        await asyncio.sleep(0)


async def test_concurrent_claims_never_overlap_nor_split_a_group(sessions):
    now, groups = await _outbox(sessions)
    a, b = await asyncio.gather(_claimer(sessions, "a", now), _claimer(sessions, "b", now))
    keys_a = [(g.chat_id, g.cycle_id) for g in a]
    keys_b = [(g.chat_id, g.cycle_id) for g in b]
    assert not set(keys_a) & set(keys_b)
    assert sorted(keys_a + keys_b) == sorted(groups)  # every group, each exactly once
    assert all(len(g.delivery_ids) == 2 for g in a + b)  # whole groups: one digest each
    async with sessions() as s:
        holders = dict(
            (
                await s.execute(
                    select(Delivery.claimed_by, func.count()).group_by(Delivery.claimed_by)
                )
            ).all()
        )
    # On a loaded machine one claimer can drain everything before the other's first
    # turn: a holder with no rows has no GROUP BY row.
    expected = {"a": 2 * len(a), "b": 2 * len(b)}
    assert holders == {name: n for name, n in expected.items() if n}


@pytest.mark.postgres
async def test_a_claim_in_progress_is_skipped_not_waited_for(db_engine):
    if db_engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer at a time: nothing to skip")
    sessions = session_factory(db_engine)
    now, groups = await _outbox(sessions, chats=4, cycles=1)
    async with sessions() as first, first.begin():  # a worker mid-claim, not committed yet
        mine = await outbox_repo.claim_due(first, now, max_groups=2, lease_ms=60_000, holder="a")
        async with sessions() as second, second.begin():
            theirs = await asyncio.wait_for(
                outbox_repo.claim_due(second, now, max_groups=10, lease_ms=60_000, holder="b"),
                timeout=5,
            )
    keys = {(g.chat_id, g.cycle_id) for g in mine}
    other = {(g.chat_id, g.cycle_id) for g in theirs}
    assert len(keys) == 2 and not keys & other
    assert keys | other == groups


async def test_release_at_start_leaves_another_replicas_live_claims(sessions):
    now, _ = await _outbox(sessions, chats=4, cycles=1)
    async with sessions() as s, s.begin():
        ours = await outbox_repo.claim_due(s, now, max_groups=2, lease_ms=60_000, holder="r1")
        theirs = await outbox_repo.claim_due(s, now, max_groups=2, lease_ms=60_000, holder="r2")
    async with sessions() as s, s.begin():
        released = await outbox_repo.release_claims(s, now, holder="r1")
        assert released == 2 * len(ours)
        again = await outbox_repo.claim_due(s, now, max_groups=10, lease_ms=60_000, holder="r3")
    # Only r1's groups came due again; r2's live claims were left alone.
    assert {g.chat_id for g in again} == {g.chat_id for g in ours}
    assert not {g.chat_id for g in again} & {g.chat_id for g in theirs}


async def test_an_expired_claim_is_taken_over(sessions):
    now, _ = await _outbox(sessions, chats=1, cycles=1)
    async with sessions() as s, s.begin():
        [first] = await outbox_repo.claim_due(s, now, max_groups=5, lease_ms=1000, holder="dead")
    async with sessions() as s, s.begin():  # still live: nobody else takes it
        assert await outbox_repo.claim_due(s, now + 999, max_groups=5, lease_ms=1000) == []
    async with sessions() as s, s.begin():
        [taken] = await outbox_repo.claim_due(
            s, now + 1000, max_groups=5, lease_ms=1000, holder="alive"
        )
    assert taken.delivery_ids == first.delivery_ids and taken.attempts == 2
    async with sessions() as s:  # checked before a send: the stalled worker stands down
        assert await outbox_repo.load_items(s, first.delivery_ids, holder="dead") == []
        assert len(await outbox_repo.load_items(s, first.delivery_ids, holder="alive")) == 2
    async with sessions() as s, s.begin():
        # The dead worker's renewal (had it only stalled) no longer matches: not its claim.
        assert await outbox_repo.renew_claims(s, first.delivery_ids, now, 1000, "dead") == 0
        assert await outbox_repo.renew_claims(s, first.delivery_ids, now, 5000, "alive") == 2
        rows = (await s.execute(select(Delivery.claimed_by, Delivery.claimed_until))).all()
    assert set(rows) == {("alive", now + 5000)}


async def test_alerts_from_a_scorer_whose_clock_runs_ahead_are_due_at_once(sessions):
    """Several hosts: the scorer's clock 10 minutes ahead of the database's must not
    hold its alerts back 10 minutes from workers that claim on the database clock."""
    from bot.alerts.types import DeliveryStatus, PlannedDelivery
    from bot.storage import alert_repo
    from bot.storage.leases import db_now_ms

    if sessions.kw["bind"].dialect.name != "postgresql":
        pytest.skip("one process on SQLite: one clock")
    cycle = await empty_cycle(sessions)
    ahead = int(time.time() * 1000) + 600_000
    ids = await add_deliveries(sessions, cycle, [1], [Alert("BTCUSDT")], now_ms=ahead)
    async with sessions() as s, s.begin():
        event_id = await s.scalar(select(Delivery.event_id).where(Delivery.id == ids[0]))
        await s.execute(Delivery.__table__.delete())
        planned = [PlannedDelivery(int(event_id), 1, DeliveryStatus.PENDING)]
        await alert_repo.insert_deliveries(s, cycle, ahead, planned)
    async with sessions() as s, s.begin():
        groups = await outbox_repo.claim_due(
            s, await db_now_ms(s), max_groups=5, lease_ms=15_000, holder="w1"
        )
    assert [g.chat_id for g in groups] == [1]


async def test_claims_released_by_a_worker_whose_clock_runs_ahead_are_due_at_once(sessions):
    """A send aborted at stop is released as due 'now' by its worker's clock; another
    worker, claiming on the database clock, must not wait for that clock."""
    from bot.storage.leases import db_now_ms

    if sessions.kw["bind"].dialect.name != "postgresql":
        pytest.skip("one process on SQLite: one clock")
    cycle = await empty_cycle(sessions)
    now = int(time.time() * 1000)
    await add_deliveries(sessions, cycle, [1], [Alert("BTCUSDT")], now_ms=now)
    async with sessions() as s, s.begin():
        claimed = await outbox_repo.claim_due(s, now, max_groups=5, lease_ms=15_000, holder="a")
        ids = claimed[0].delivery_ids
        await outbox_repo.release_claims(s, now + 600_000, ids, holder="a")
    async with sessions() as s, s.begin():
        groups = await outbox_repo.claim_due(
            s, await db_now_ms(s), max_groups=5, lease_ms=15_000, holder="b"
        )
    assert [g.delivery_ids for g in groups] == [ids]
