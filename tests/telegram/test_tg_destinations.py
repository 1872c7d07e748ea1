"""Destinations through the real outbox worker, to loopback receivers: a Discord-shaped
and a generic signed webhook each get every alert exactly once across an outage longer
than the retry budget and a 429 storm; signatures verify; 410/404 deactivate once.

Outages are counted in requests (`fail_next`), so "longer than the retry budget" is
an event (more failed posts than `max_send_attempts`), not a minute of sleeping.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp.abc import AbstractResolver
from cryptography.fernet import Fernet
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.alerts.types import DeliveryStatus, PlannedDelivery
from bot.config import DestinationSettings, Settings
from bot.storage import alert_repo
from bot.storage.models import AlertEvent, Chat, Delivery, Destination
from bot.views import destination_actions
from fakes.fake_receivers import DISCORD_404, DiscordReceiver, SignedReceiver
from fakes.fake_telegram import FakeTelegram
from tests.telegram.helpers import EXCHANGE, add_chat, empty_cycle
from tests.telegram.test_tg_commands import ask

KEY = Fernet.generate_key().decode()
CHAT = 501
FAST = {"backoff_base": 0.01, "backoff_max": 0.05, "poll_interval": 0.05}


@dataclass
class Ctx:
    settings: Settings
    sessions: async_sessionmaker[AsyncSession]
    resolver: AbstractResolver | None = None

    def now_ms(self) -> int:
        return int(time.time() * 1000)


@pytest.fixture
def dsettings(make_settings: Callable[..., Settings]) -> Settings:
    base = make_settings(max_send_attempts=3)
    loopback = DestinationSettings(secret_key=KEY, allow_private_targets=True)  # type: ignore[arg-type]
    return base.model_copy(update={"destinations": loopback})


async def attach(settings: Settings, sessions: Any, kind: str, url: str) -> str | None:
    await add_chat(sessions, CHAT)
    added = await destination_actions.add_destination(Ctx(settings, sessions), CHAT, kind, url)
    return added.secret


async def fan_out(sessions: Any, symbols: list[str]) -> list[int]:
    """One cycle's events for CHAT through the real fan-out insert (twins included)."""
    cycle = await empty_cycle(sessions)
    now = int(time.time() * 1000)
    async with sessions() as session, session.begin():
        events = []
        for i, sym in enumerate(symbols):
            ev = AlertEvent(
                cycle_id=cycle,
                exchange=EXCHANGE,
                symbol=sym,
                kind="band",
                direction="up",
                from_band="lean",
                to_band="stretched",
                score=40 + i,
                bias="LONG",
                regime="Net long bias building",
                created_ms=now,
            )
            session.add(ev)
            await session.flush()
            events.append(ev.id)
        planned = [PlannedDelivery(e, CHAT, DeliveryStatus.PENDING) for e in events]
        await alert_repo.insert_deliveries(session, cycle, now, planned)
    return events


async def settled(sessions: Any, timeout: float = 60.0) -> list[Delivery]:
    async def poll() -> list[Delivery]:
        while True:
            async with sessions() as s:
                rows = list((await s.scalars(select(Delivery).order_by(Delivery.id))).all())
            if rows and all(d.status != "pending" for d in rows):
                return rows
            await asyncio.sleep(0.02)

    return await asyncio.wait_for(poll(), timeout)


async def test_generic_webhook_gets_every_alert_once_across_outage_and_429(
    start, dsettings, sessions, fake_tg: FakeTelegram
):
    async with SignedReceiver() as receiver:
        receiver.secret = await attach(dsettings, sessions, "https", receiver.url)
        assert receiver.secret is not None and len(receiver.secret) == 64
        # An outage longer than the retry budget (3 attempts), then a 429, then a reset.
        receiver.fail_next(7, 503)
        receiver.fail_next(2, 429, headers={"Retry-After": "0"})
        await fan_out(sessions, ["BTCUSDT", "ETHUSDT"])
        await start(dsettings, **FAST)
        await fan_out(sessions, ["SOLUSDT"])
        rows = await settled(sessions)
        assert {d.status for d in rows} == {"sent"}
        twins = [d for d in rows if d.destination_id]
        assert len(twins) == 3 and len(rows) == 6
        assert sorted(receiver.unique_alert_ids()) == sorted(d.id for d in twins)
        assert len(receiver.accepted) == 2  # one post per cycle
        assert all(receiver.verify(r) for r in receiver.requests)
        doc = receiver.accepted[0].json
        assert doc["schema"] == "pressurebot.alerts" and doc["version"] == 1
        assert receiver.accepted[0].headers["Idempotency-Key"] == doc["idempotency_key"]
        # Every failed try carried the same key as the post that got through.
        keys = {r.headers["Idempotency-Key"] for r in receiver.requests}
        assert len(keys) == 2
        # The chat itself got its Telegram messages, unaffected.
        assert len(await fake_tg.wait_for_messages(CHAT, 2)) == 2


async def test_discord_gets_every_alert_once_across_a_429_storm_and_outage(
    start, dsettings, sessions, fake_tg: FakeTelegram, caplog
):
    caplog.set_level(logging.DEBUG)
    async with DiscordReceiver() as receiver:
        assert await attach(dsettings, sessions, "discord", receiver.url) is None
        receiver.storm(4, retry_after=0.5)  # Discord's own body: retry_after 0.5 s
        receiver.fail_next(6, 502)
        await fan_out(sessions, ["BTCUSDT", "ETHUSDT", "SOLUSDT"])
        runtime = await start(dsettings, **FAST)
        await fan_out(sessions, ["DOGEUSDT"])
        runtime.notify()
        rows = await settled(sessions)
        assert {d.status for d in rows} == {"sent"}
        assert sorted(receiver.alert_symbols()) == ["BTC", "DOGE", "ETH", "SOL"]
        assert len(receiver.accepted) == 2
        storm = [r for r in receiver.requests if r.status == 429]
        assert len(storm) == 4
        first = receiver.accepted[0].json
        assert first["allowed_mentions"] == {"parse": []}
        print("\n--- discord message ---\n", first["embeds"][0])
        results = runtime.outbox_worker.destinations.results
        assert any(r.detail == "HTTP 429 (webhook rate limit)" for _, r in results)
        # Retries were logged, by label: never the URL or its token (the receiver's own
        # access log, aiohttp.access, is the fake's, not ours).
        ours = "\n".join(
            r.getMessage() for r in caplog.records if not r.name.startswith("aiohttp.access")
        )
        assert "127.0.0.1:" in ours and "retrying" in ours
        assert "secret-token" not in ours and "/api/webhooks" not in ours


async def test_a_410_deactivates_once_and_tells_the_chat_once(
    start, dsettings, sessions, fake_tg: FakeTelegram
):
    async with SignedReceiver() as receiver:
        receiver.secret = await attach(dsettings, sessions, "https", receiver.url)
        receiver.gone(410)
        for sym in ("BTCUSDT", "ETHUSDT", "SOLUSDT"):
            await fan_out(sessions, [sym])  # three groups due at once
        await start(dsettings, **FAST)
        rows = await settled(sessions)
        twins = [d for d in rows if d.destination_id]
        assert {(d.status, d.reason) for d in twins} == {("dropped", "destination gone")}
        async with sessions() as s:
            dest = (await s.scalars(select(Destination))).one()
        assert not dest.active and dest.deactivated_reason == "HTTP 410 (gone)"
        notes = [m for m in await fake_tg.wait_for_messages(CHAT, 4) if "⛔" in m.visible]
        assert len(notes) == 1 and "HTTP 410" in notes[0].visible
        assert receiver.url not in notes[0].text
        listing = await ask(fake_tg, "/webhook list", CHAT)
        assert "⛔ stopped: HTTP 410 (gone)" in listing.visible
        before = len(receiver.requests)
        await fan_out(sessions, ["DOGEUSDT"])  # no twin for an inactive destination
        rows = await settled(sessions)
        assert len([d for d in rows if d.destination_id]) == 3
        assert len(receiver.requests) == before


async def test_a_muted_chat_mutes_its_destinations(
    start, dsettings, sessions, fake_tg: FakeTelegram
):
    async with SignedReceiver() as receiver:
        receiver.secret = await attach(dsettings, sessions, "https", receiver.url)
        async with sessions() as s, s.begin():
            chat = await s.get(Chat, CHAT)
            assert chat is not None
            chat.muted_until_ms = int(time.time() * 1000) + 3_600_000
        await fan_out(sessions, ["BTCUSDT"])
        await start(dsettings, **FAST)
        rows = await settled(sessions)
    assert sorted((d.destination_id > 0, d.status, d.reason) for d in rows) == [
        (False, "suppressed", "muted"),  # the chat's own: held, owed a catch-up
        (True, "dropped", "muted"),  # the twin: the catch-up will be mirrored instead
    ]
    assert receiver.requests == []


async def test_discord_404_deactivates(start, dsettings, sessions, fake_tg: FakeTelegram):
    async with DiscordReceiver() as receiver:
        await attach(dsettings, sessions, "discord", receiver.url)
        receiver.gone(404, DISCORD_404)
        await fan_out(sessions, ["BTCUSDT"])
        await start(dsettings, **FAST)
        await settled(sessions)
        [note] = [m for m in await fake_tg.wait_for_messages(CHAT, 2) if "⛔" in m.visible]
        assert "unknown webhook" in note.visible
        assert "secret-token" not in note.text


async def test_a_receiver_that_hangs_times_out_and_is_retried(
    start, make_settings, sessions, fake_tg: FakeTelegram
):
    hanging = DestinationSettings(
        secret_key=KEY,  # type: ignore[arg-type]
        allow_private_targets=True,
        timeout_seconds=0.3,
    )
    settings = make_settings().model_copy(update={"destinations": hanging})
    async with SignedReceiver() as receiver:
        receiver.secret = await attach(settings, sessions, "https", receiver.url)
        receiver.block_at = 1  # the first post is read and never answered
        await fan_out(sessions, ["BTCUSDT"])
        runtime = await start(settings, **FAST)
        rows = await settled(sessions)
        receiver.release()
    assert {d.status for d in rows} == {"sent"}
    assert [r.status for r in receiver.requests] == [0, 200]
    first, again = receiver.requests  # the same post again: key and alerts (sent_ms moves)
    assert first.headers["Idempotency-Key"] == again.headers["Idempotency-Key"]
    assert first.json["alerts"] == again.json["alerts"]
    results = runtime.outbox_worker.destinations.results
    assert [r.detail for _, r in results] == ["timed out", "HTTP 200"]
