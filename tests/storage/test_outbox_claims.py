"""Claiming outbox groups (bot/storage/outbox_repo.py)."""

from __future__ import annotations

import time

import pytest

from bot.storage import outbox_repo
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
