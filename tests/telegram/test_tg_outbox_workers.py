"""Two outbox workers on one PostgreSQL outbox, in one process, against the fake Bot API:
together they keep the bot's one budget (the pace is shared through the database),
never send a digest twice, and leave another replica's live claims alone
(docs/alerts.md, "Several outbox workers")."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from telegram import Bot

from bot.config import Settings
from bot.storage import outbox_repo
from bot.storage.db import session_factory
from bot.storage.models import Delivery
from bot.telegram.chat_events import ChatStore
from bot.telegram.outbox_worker import OutboxWorker
from bot.telegram.sender import Sender
from fakes.fake_telegram import FakeTelegram
from tests.telegram.helpers import Alert, add_deliveries, empty_cycle

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning"),
]


# The bot's budget, below the fake's 30 msg/s: two workers sharing it stay well clear of
# Telegram's limit even when this machine stalls them; two each pacing only itself would
# ask for 2 x 20 = 40 msg/s.
RATE = 20


class CountingTelegram(FakeTelegram):
    """Also notes when each send reached it, accepted or answered 429."""

    def __init__(self) -> None:
        super().__init__()
        self.attempts: list[float] = []

    def _flood_check(self, chat_id: int | None, paid: bool = False) -> Any:
        self.attempts.append(self._clock())
        return super()._flood_check(chat_id, paid)


def peak_per_second(times: list[float]) -> int:
    times = sorted(times)
    return max(sum(1 for t in times[i:] if t < start + 1.0) for i, start in enumerate(times))


@pytest.fixture
def sessions(db_engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    if db_engine.dialect.name != "postgresql":
        pytest.skip("several outbox workers need PostgreSQL; SQLite runs one")
    return session_factory(db_engine)


@contextlib.asynccontextmanager
async def worker(
    sessions: async_sessionmaker[AsyncSession], tg: FakeTelegram, name: str
) -> AsyncIterator[OutboxWorker]:
    settings = Settings(
        telegram={"token": tg.token, "base_url": tg.base_url, "max_messages_per_second": RATE}
    )
    async with Bot(tg.token, base_url=tg.base_url) as bot:
        sender = Sender(bot, settings.telegram, events=ChatStore(sessions))
        w = OutboxWorker(sessions, sender, settings, replica=name, poll_interval=0.2)
        stop = asyncio.Event()
        task = asyncio.create_task(w.run(stop))
        try:
            yield w
        finally:
            stop.set()
            await task


async def test_two_workers_share_the_budget_and_each_digest_goes_once(sessions):
    chats = list(range(1, 91))
    cycle = await empty_cycle(sessions)
    ids = await add_deliveries(sessions, cycle, chats, [Alert("BTCUSDT")])
    now = int(time.time() * 1000)
    async with sessions() as s, s.begin():
        # A live claim of a third replica, and one left by a previous run of "w1".
        [theirs] = await outbox_repo.claim_due(
            s, now, max_groups=1, lease_ms=3_600_000, holder="other"
        )
        [ours] = await outbox_repo.claim_due(s, now, max_groups=1, lease_ms=3_600_000, holder="w1")
    async with CountingTelegram() as tg:
        started = time.monotonic()
        async with worker(sessions, tg, "w1"), worker(sessions, tg, "w2"):
            await tg.wait_until(lambda: len(tg.sent) >= len(chats) - 1, timeout=30)
            elapsed = time.monotonic() - started
        async with sessions() as s:
            rows = (
                await s.execute(select(Delivery.id, Delivery.status, Delivery.claimed_by))
            ).all()
    per_chat = Counter(m.chat_id for m in tg.sent)
    assert set(per_chat) == set(chats) - {theirs.chat_id}
    assert max(per_chat.values()) == 1  # no digest twice
    assert peak_per_second(tg.attempts) <= RATE + 5  # a stalled event loop bunches a few
    assert tg.flood_429s == 0
    assert elapsed >= (len(chats) - 1) / RATE - 0.5
    by_id = {i: (status, holder) for i, status, holder in rows}
    assert by_id[theirs.delivery_ids[0]] == ("pending", "other")  # left alone
    assert by_id[ours.delivery_ids[0]][0] == "sent"  # released at start, then sent
    senders = Counter(holder for i, status, holder in rows if status == "sent")
    assert set(senders) == {"w1", "w2"}  # both drained the outbox
    assert sum(senders.values()) == len(ids) - 1
