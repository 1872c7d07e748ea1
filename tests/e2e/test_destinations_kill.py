"""kill -9 of `pressurebot run` while a Discord-shaped and a signed webhook each have a
post on the wire: after the restart every alert reaches both, the signed receiver sees
each exactly once after dropping repeats by Idempotency-Key (the resend carries the
same key), and the only repeat is the post that was on the wire at the kill
(docs/alerts.md, "Destinations")."""

from __future__ import annotations

import signal
import time
from collections import Counter
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from bot.alerts.types import DeliveryStatus, PlannedDelivery
from bot.config import DatabaseSettings, DestinationSettings, Settings
from bot.storage import alert_repo
from bot.storage.db import create_engine, session_factory
from fakes.fake_binance import FakeBinance
from fakes.fake_receivers import DiscordReceiver, SignedReceiver
from fakes.fake_telegram import FakeTelegram
from fakes.service_process import ServiceProcess
from tests.e2e.service_db import band_event, ok_cycle, read_until, status_counts
from tests.e2e.test_full_service import bot_env
from tests.e2e.test_headless_service import lean_market
from tests.telegram.helpers import add_chat
from tests.telegram.test_tg_destinations import Ctx

pytestmark = pytest.mark.slow

CHAT = 90_001
CYCLES = 4  # one post per cycle per destination; the second of each is on the wire
KEY = Fernet.generate_key().decode()


async def seed(url: str, discord_url: str, hook_url: str) -> str:
    """The chat, its two destinations (through the real use-case) and CYCLES cycles of
    two alerts each, fanned out by the real insert (twins included). The secret back."""
    engine = create_engine(DatabaseSettings(url=url))
    sessions = session_factory(engine)
    settings = Settings(
        database={"url": url},  # type: ignore[arg-type]
        destinations=DestinationSettings(secret_key=KEY, allow_private_targets=True),  # type: ignore[arg-type]
    )
    from bot.views import destination_actions

    await add_chat(sessions, CHAT)
    ctx = Ctx(settings, sessions)
    await destination_actions.add_destination(ctx, CHAT, "discord", discord_url)
    added = await destination_actions.add_destination(ctx, CHAT, "https", hook_url)
    now = int(time.time() * 1000)
    async with sessions() as session, session.begin():
        for k in range(CYCLES):
            cycle = await ok_cycle(session, now)
            planned = []
            for side in ("A", "B"):
                event = await band_event(session, cycle, f"K{k}{side}USDT", now)
                planned.append(PlannedDelivery(event.id, CHAT, DeliveryStatus.PENDING))
            await alert_repo.insert_deliveries(session, cycle.id, now, planned)
    await engine.dispose()
    assert added.secret is not None
    return added.secret


@pytest.mark.timeout(180)
async def test_kill_9_mid_post_loses_nothing_and_repeats_only_the_post_on_the_wire(
    tmp_path: Path,
) -> None:
    db_url = f"sqlite+aiosqlite:///{tmp_path}/service.db"
    async with (
        FakeBinance() as fake,
        FakeTelegram() as tg,
        DiscordReceiver() as discord,
        SignedReceiver() as hook,
    ):
        lean_market(fake)
        tg.add_chat(CHAT)
        env = bot_env(tmp_path, fake, tg)
        env.update(
            PRESSUREBOT_DATABASE__URL=db_url,
            PRESSUREBOT_DESTINATIONS__SECRET_KEY=KEY,
            PRESSUREBOT_DESTINATIONS__ALLOW_PRIVATE_TARGETS="true",
        )
        hook.secret = await seed(db_url, discord.url, hook.url)
        discord.block_at = hook.block_at = 2

        first = await ServiceProcess(env).start()
        try:
            await discord.wait_for(lambda r: len(r.requests) >= 2, timeout=120)
            await hook.wait_for(lambda r: len(r.requests) >= 2, timeout=120)
            await first.stop(signal.SIGKILL)
        finally:
            await first.kill()
        discord.release()
        hook.release()

        second = await ServiceProcess(env).start()
        try:
            expected = {f"K{k}{s}" for k in range(CYCLES) for s in "AB"}
            await discord.wait_for(lambda r: set(r.alert_symbols()) >= expected, timeout=120)
            await hook.wait_for(lambda r: len(r.unique_alert_ids()) >= 2 * CYCLES, timeout=120)
            # The last outcome reaches the database just after the post.
            await read_until(
                lambda: status_counts(db_url), lambda c: c.get("pending", 0) == 0, timeout=60
            )
        finally:
            assert await second.stop(signal.SIGTERM) == 0
        statuses = await status_counts(db_url)
    assert statuses == {"sent": 3 * 2 * CYCLES}  # the chat's rows and both twins'
    # Discord has no idempotency key: the post on the wire at the kill may arrive twice.
    per_symbol = Counter(discord.alert_symbols())
    assert set(per_symbol) == expected and max(per_symbol.values()) == 1
    on_wire = [r for r in discord.requests if r.status == 0]
    assert len(on_wire) == 1  # never answered: Discord may or may not have posted it
    # The signed receiver: every alert once after dropping repeats by Idempotency-Key,
    # and the post on the wire was resent with the key it had.
    ids = hook.unique_alert_ids()
    assert len(ids) == len(set(ids)) == 2 * CYCLES
    [blocked] = [r for r in hook.requests if r.status == 0]
    accepted_keys = [r.headers["Idempotency-Key"] for r in hook.accepted]
    assert blocked.headers["Idempotency-Key"] in accepted_keys
    assert len(accepted_keys) == len(set(accepted_keys)) == CYCLES
    assert all(hook.verify(r) for r in hook.requests)
    print(
        f"\n--- kill -9 mid-post: discord {len(discord.requests)} posts for {CYCLES} "
        f"messages, signed {len(hook.requests)} posts, keys {len(set(accepted_keys))} ---"
    )
