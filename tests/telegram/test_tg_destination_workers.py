"""Two outbox workers on one PostgreSQL outbox share destinations' groups as they share
Telegram digests: every group is posted by one of them, once, through a receiver
outage (docs/alerts.md, "Destinations")."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import AsyncIterator

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from telegram import Bot

from bot.alerts.types import DeliveryStatus, PlannedDelivery
from bot.config import Settings
from bot.storage import alert_repo
from bot.storage.db import session_factory
from bot.storage.models import AlertEvent, Delivery
from bot.telegram.chat_events import ChatStore
from bot.telegram.outbox_worker import OutboxWorker
from bot.telegram.sender import Sender
from bot.views import destination_actions
from fakes.fake_receivers import SignedReceiver
from fakes.fake_telegram import FakeTelegram
from tests.telegram.helpers import EXCHANGE, add_chat, empty_cycle
from tests.telegram.test_tg_destinations import Ctx

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning"),
]

KEY = Fernet.generate_key().decode()
CHATS = list(range(1, 21))
CYCLES = 3


@pytest.fixture
def sessions(db_engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    if db_engine.dialect.name != "postgresql":
        pytest.skip("several outbox workers need PostgreSQL; SQLite runs one")
    return session_factory(db_engine)


def settings_for(tg: FakeTelegram) -> Settings:
    return Settings(
        telegram={"token": tg.token, "base_url": tg.base_url},  # type: ignore[arg-type]
        destinations={"secret_key": KEY, "allow_private_targets": True},  # type: ignore[arg-type]
    )


@contextlib.asynccontextmanager
async def worker(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, name: str
) -> AsyncIterator[OutboxWorker]:
    tg = settings.telegram
    assert tg.token is not None
    async with Bot(tg.token.get_secret_value(), base_url=tg.base_url) as bot:
        sender = Sender(bot, tg, events=ChatStore(sessions))
        w = OutboxWorker(
            sessions, sender, settings, replica=name, poll_interval=0.1,
            backoff_base=0.01, backoff_max=0.05,
        )  # fmt: skip
        stop = asyncio.Event()
        task = asyncio.create_task(w.run(stop))
        try:
            yield w
        finally:
            stop.set()
            await task


async def test_two_workers_post_each_destination_group_once(sessions):
    async with FakeTelegram() as tg, SignedReceiver() as receiver:
        settings = settings_for(tg)
        secrets = set()
        for chat in CHATS:
            await add_chat(sessions, chat)
            tg.add_chat(chat)
            added = await destination_actions.add_destination(
                Ctx(settings, sessions), chat, "https", receiver.url
            )
            secrets.add(added.secret)
        now = int(time.time() * 1000)
        for k in range(CYCLES):
            cycle = await empty_cycle(sessions)
            async with sessions() as session, session.begin():
                ev = AlertEvent(
                    cycle_id=cycle, exchange=EXCHANGE, symbol=f"K{k}USDT", kind="band",
                    direction="up", from_band="lean", to_band="stretched", score=41,
                    bias="LONG", regime="Net long bias building", created_ms=now,
                )  # fmt: skip
                session.add(ev)
                await session.flush()
                planned = [PlannedDelivery(ev.id, c, DeliveryStatus.PENDING) for c in CHATS]
                await alert_repo.insert_deliveries(session, cycle, now, planned)
        receiver.fail_next(15, 503)
        groups = len(CHATS) * CYCLES
        async with worker(sessions, settings, "w1"), worker(sessions, settings, "w2"):
            await receiver.wait_for(lambda r: len(r.accepted) >= groups, timeout=60)
            for _ in range(200):
                async with sessions() as s:
                    left = (
                        await s.scalars(select(Delivery.id).where(Delivery.status == "pending"))
                    ).all()
                if not left:
                    break
                await asyncio.sleep(0.05)
        async with sessions() as s:
            rows = (await s.scalars(select(Delivery))).all()
    keys = Counter(r.headers["Idempotency-Key"] for r in receiver.accepted)
    assert len(keys) == groups and max(keys.values()) == 1  # each group posted once
    assert {d.status for d in rows} == {"sent"} and len(rows) == 2 * groups
    senders = Counter(d.claimed_by for d in rows if d.destination_id)
    print(f"\n--- two workers, {groups} destination groups: posted by {dict(senders)} ---")
    assert len(secrets) == len(CHATS)
