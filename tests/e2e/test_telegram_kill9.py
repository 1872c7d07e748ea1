"""`pressurebot run` as a subprocess killed with -9 mid-broadcast behind a slow Bot API
(250 ms round trips): what docs/alerts.md promises about repeats (at most the in-flight
window) and losses (none). Its own file so the test runner can run it beside the other
Telegram faults (tests/e2e/test_telegram_faults.py)."""

from __future__ import annotations

import math
import signal
import time
from pathlib import Path

import pytest

from fakes.fake_binance import FakeBinance
from fakes.fake_telegram import FakeTelegram
from fakes.service_process import ServiceProcess
from tests.e2e.service_db import seed, service_database, status_counts
from tests.e2e.test_full_service import bot_env
from tests.e2e.test_headless_service import lean_market, stress_btc

pytestmark = pytest.mark.slow(seconds=60)


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
async def test_kill_9_at_250ms_round_trips_repeats_at_most_the_in_flight_window(
    tmp_path: Path, backend: str
) -> None:
    """A 250 ms Bot API: messages on the wire at the kill are sent but not recorded, and
    go out again after the restart. docs/alerts.md promises at most the in-flight
    window, ceil(30 msg/s x 0.25 s) = 8."""
    window = math.ceil(30 * 0.25)
    chats = range(60_000, 60_400)
    async with (
        service_database(backend, tmp_path) as db_url,
        FakeBinance() as fake,
        FakeTelegram(latency=0.25) as tg,
    ):
        lean_market(fake)
        env = bot_env(tmp_path, fake, tg)
        env["PRESSUREBOT_DATABASE__URL"] = db_url
        migrate = ServiceProcess(env)
        migrate.argv = ["migrate"]
        await migrate.start()
        assert await migrate.wait_exit() == 0
        await seed(db_url, chats)

        first = await ServiceProcess(env).start()
        try:
            await first.wait_for(r"cycle \d+: ok", n=2)
            stress_btc(fake)
            await tg.wait_until(lambda: len(tg.sent) >= 100, timeout=120)
            started = time.monotonic()
            await first.stop(signal.SIGKILL)
        finally:
            await first.kill()
        sent_before_restart = len(tg.sent)
        assert sent_before_restart < len(chats), "the broadcast finished before the kill"

        second = await ServiceProcess(env).start()
        try:
            await tg.wait_until(lambda: {m.chat_id for m in tg.sent} >= set(chats), timeout=90)
            seen = second.count(r"cycle \d+: ")
            await second.wait_for(r"cycle \d+: ", n=seen + 2)
        finally:
            assert await second.stop(signal.SIGTERM) == 0
        statuses = await status_counts(db_url)
    per_chat = {c: len(tg.messages_to(c)) for c in chats}
    doubled = [c for c, n in per_chat.items() if n > 1]
    print(
        f"\n--- kill -9 at 250 ms ({backend}): {len(doubled)} repeated (bound {window}); "
        f"{sent_before_restart} sent before the kill; "
        f"all delivered {time.monotonic() - started:.1f} s after it ---"
    )
    assert all(n >= 1 for n in per_chat.values()), "a delivery was lost"
    assert len(doubled) <= window, f"{len(doubled)} chats got the alert twice"
    assert tg.flood_429s == 0
    assert statuses == {"sent": len(chats)}
