"""Destinations in storage: deactivated once however many groups see the 410, their
pending rows dropped with them, and removal taking their outbox twins along."""

from __future__ import annotations

import time

from sqlalchemy import select

from bot.alerts.types import DeliveryStatus, PlannedDelivery
from bot.storage import alert_repo, destination_repo
from bot.storage.models import AlertEvent, Delivery
from tests.telegram.helpers import EXCHANGE, add_chat, empty_cycle


async def _event(sessions, cycle: int) -> int:
    async with sessions() as s, s.begin():
        ev = AlertEvent(
            cycle_id=cycle, exchange=EXCHANGE, symbol="BTCUSDT", kind="band", direction="up",
            from_band="lean", to_band="stretched", score=41, bias="LONG",
            regime="Net long bias building", created_ms=int(time.time() * 1000),
        )  # fmt: skip
        s.add(ev)
        await s.flush()
        return ev.id


async def test_deactivate_is_once_and_drops_pending_twins(sessions):
    await add_chat(sessions, 7)
    async with sessions() as s, s.begin():
        a = await destination_repo.add(s, 7, "https", "a.example/•••", "u", "s", 0)
        b = await destination_repo.add(s, 7, "discord", "discord.com/•••", "u", None, 0)
    cycle = await empty_cycle(sessions)
    event = await _event(sessions, cycle)
    async with sessions() as s, s.begin():
        planned = [PlannedDelivery(event, 7, DeliveryStatus.PENDING)]
        await alert_repo.insert_deliveries(s, cycle, 1, planned)
        await alert_repo.insert_deliveries(s, cycle, 1, planned)  # idempotent
    async with sessions() as s, s.begin():
        first = await destination_repo.deactivate(s, a.id, "HTTP 410 (gone)")
        again = await destination_repo.deactivate(s, a.id, "HTTP 410 (gone)")
    assert (first, again) == (True, False)
    async with sessions() as s:
        rows = (await s.scalars(select(Delivery).order_by(Delivery.destination_id))).all()
    assert [(d.destination_id, d.status, d.reason) for d in rows] == [
        (0, "pending", None),
        (a.id, "dropped", "destination gone"),
        (b.id, "pending", None),
    ]
    async with sessions() as s, s.begin():
        assert await destination_repo.remove(s, 7, b.id)
        assert not await destination_repo.remove(s, 8, a.id)  # another chat's: untouched
    async with sessions() as s:
        left = [(d.destination_id) for d in await s.scalars(select(Delivery))]
        mine = await destination_repo.for_chat(s, 7)
    assert sorted(left) == [0, a.id] and [d.id for d in mine] == [a.id]
