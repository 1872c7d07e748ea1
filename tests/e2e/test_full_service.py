"""The whole product as a trader meets it: `pressurebot run` as a subprocess against the
fake exchange and the fake Telegram Bot API (README, Development)."""

from __future__ import annotations

import signal
import sqlite3
import time
from pathlib import Path

import pytest

from fakes.fake_binance import FakeBinance
from fakes.fake_telegram import FakeTelegram
from fakes.service_process import ServiceProcess, service_env
from tests.e2e.test_headless_service import lean_market, stress_btc

pytestmark = pytest.mark.slow(seconds=40)

USER = 1001


def bot_env(
    tmp_path: Path, fake: FakeBinance, tg: FakeTelegram, *, migrated: bool = True
) -> dict[str, str]:
    return service_env(
        tmp_path,
        fake.url,
        migrated=migrated,
        PRESSUREBOT_TELEGRAM__TOKEN=tg.token,
        PRESSUREBOT_TELEGRAM__BASE_URL=tg.base_url,
        PRESSUREBOT_TELEGRAM__POLL_TIMEOUT_SECONDS="1",
    )


def alerts_to(tg: FakeTelegram, chat_id: int) -> list[str]:
    return [
        m.visible for m in tg.messages_to(chat_id) if "BTCUSDT" in m.visible and "→" in m.visible
    ]


async def test_subscribe_then_exactly_one_push_when_the_band_is_crossed(tmp_path: Path) -> None:
    async with FakeBinance() as fake, FakeTelegram() as tg:
        lean_market(fake)
        # A first install: the service creates its database (no template copied).
        svc = await ServiceProcess(bot_env(tmp_path, fake, tg, migrated=False)).start()
        try:
            await svc.wait_for(r"cycle \d+: ok", n=1)
            await tg.wait_until(lambda: bool(tg.commands), timeout=10)  # menu registered

            tg.push_message(USER, "/subscribe BTCUSDT")
            [reply] = await tg.wait_for_messages(USER, 1, timeout=10)
            assert "BTCUSDT" in reply.visible and "ubscribed" in reply.visible

            seen = svc.count(r"cycle \d+: ")
            await svc.wait_for(r"cycle \d+: ok", n=seen + 2)
            stress_btc(fake)
            await tg.wait_until(lambda: len(alerts_to(tg, USER)) >= 1, timeout=90)
            [alert] = alerts_to(tg, USER)
            assert "stressed" in alert and "lean" in alert

            seen = svc.count(r"cycle \d+: ")
            await svc.wait_for(r"cycle \d+: ", n=seen + 3)  # it stays stressed
            assert len(alerts_to(tg, USER)) == 1
        finally:
            code = await svc.stop(signal.SIGTERM)
    assert code == 0
    assert svc.count("stopped cleanly") == 1
    log = "\n".join(svc.lines)
    assert tg.token not in log and tg.token.split(":", 1)[1] not in log
    assert "Traceback" not in log
    assert tg.flood_429s == 0


def seed_subscribers(db: Path, chat_ids: range) -> None:
    now = int(time.time() * 1000)
    with sqlite3.connect(db) as conn:
        conn.executemany(
            "INSERT INTO chats (id, type, active, min_band, direction, created_ms)"
            " VALUES (?, 'private', 1, 'stretched', 'both', ?)",
            [(c, now) for c in chat_ids],
        )
        conn.executemany(
            "INSERT INTO subscriptions (chat_id, exchange, symbol, kind, created_ms)"
            " VALUES (?, 'binance', 'BTCUSDT', 'bands', ?)",
            [(c, now) for c in chat_ids],
        )


@pytest.mark.timeout(480)
async def test_kill_9_mid_broadcast_then_restart_delivers_everything(tmp_path: Path) -> None:
    chats = range(50_000, 50_500)
    async with FakeBinance() as fake, FakeTelegram() as tg:
        lean_market(fake)
        env = bot_env(tmp_path, fake, tg)
        seed_subscribers(tmp_path / "service.db", chats)

        first = await ServiceProcess(env).start()
        try:
            await first.wait_for(r"cycle \d+: ok", n=2)
            stress_btc(fake)
            # Bounds for a hung test, not timing claims (a busy machine is slow).
            await tg.wait_until(lambda: len(tg.sent) >= 100, timeout=180)
            await first.stop(signal.SIGKILL)
        finally:
            await first.kill()
        sent_before_restart = len(tg.sent)
        assert sent_before_restart < len(chats), "the broadcast finished before the kill"

        second = await ServiceProcess(env).start()
        try:
            await tg.wait_until(lambda: {m.chat_id for m in tg.sent} >= set(chats), timeout=180)
            seen = second.count(r"cycle \d+: ")
            await second.wait_for(r"cycle \d+: ", n=seen + 2)
        finally:
            assert await second.stop(signal.SIGTERM) == 0

    per_chat = {c: len(tg.messages_to(c)) for c in chats}
    assert all(n >= 1 for n in per_chat.values()), "a delivery was lost"
    doubled = [c for c, n in per_chat.items() if n > 1]
    # Only messages on the wire at the instant of the kill may repeat: at most the
    # in-flight window, 8 at 30 msg/s (docs/alerts.md, Delivery guarantees). On a
    # loopback Bot API that is usually one or two.
    assert len(doubled) <= 8, f"{len(doubled)} chats got the alert twice"
    assert tg.flood_429s == 0
    with sqlite3.connect(tmp_path / "service.db") as conn:
        statuses = dict(conn.execute("SELECT status, count(*) FROM deliveries GROUP BY status"))
    assert statuses == {"sent": len(chats)}
