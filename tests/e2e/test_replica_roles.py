"""`pressurebot run --role scorer|bot|worker` as three processes on one PostgreSQL
database, against the fake exchange and the fake Bot API: the bot replica answers, the
worker replica pushes the scorer replica's alert, and /status names who scores.

Needs PRESSUREBOT_TEST_POSTGRES_URL (a database per test, at the schema head:
fakes/migrated_db.py)."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest

from fakes.fake_binance import FakeBinance
from fakes.fake_telegram import FakeTelegram
from fakes.migrated_db import migrated_postgres
from fakes.pg_database import postgres_url_or_skip
from fakes.service_process import ServiceProcess, service_env
from tests.e2e.test_headless_service import lean_market, stress_btc

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

ADMIN = 1001


def role_env(
    tmp_path: Path, fake: FakeBinance, tg: FakeTelegram, db_url: str, role: str
) -> dict[str, str]:
    return service_env(
        tmp_path,
        fake.url,
        PRESSUREBOT_DATABASE__URL=db_url,
        PRESSUREBOT_TELEGRAM__TOKEN=tg.token,
        PRESSUREBOT_TELEGRAM__BASE_URL=tg.base_url,
        PRESSUREBOT_TELEGRAM__POLL_TIMEOUT_SECONDS="1",
        PRESSUREBOT_TELEGRAM__ADMIN_IDS=f"[{ADMIN}]",
        PRESSUREBOT_REPLICA__NAME=f"the-{role}",
        PRESSUREBOT_REPLICA__LEASE_SECONDS="3",
    )


def alerts_to(tg: FakeTelegram, chat_id: int) -> list[str]:
    return [
        m.visible for m in tg.messages_to(chat_id) if "BTCUSDT" in m.visible and "→" in m.visible
    ]


async def test_scorer_bot_and_worker_replicas_share_the_work(tmp_path: Path) -> None:
    async with (
        FakeBinance() as fake,
        FakeTelegram() as tg,
        migrated_postgres(postgres_url_or_skip()) as db_url,
    ):
        lean_market(fake)
        procs = {}
        for role in ("scorer", "bot", "worker"):
            procs[role] = ServiceProcess(role_env(tmp_path, fake, tg, db_url, role))
            procs[role].argv = ["run", "--role", role]
        scorer, bot, worker = procs["scorer"], procs["bot"], procs["worker"]
        try:
            await asyncio.gather(*(p.start() for p in procs.values()))
            await scorer.wait_for(r"cycle \d+: ok", n=1)
            await worker.wait_for("outbox only: no updates")
            await bot.wait_for(r"telegram bot @\w+ started")

            tg.push_message(ADMIN, "/subscribe BTCUSDT")
            [reply] = await tg.wait_for_messages(ADMIN, 1, timeout=15)
            assert "ubscribed" in reply.visible
            tg.push_message(ADMIN, "/status")
            [_, status] = await tg.wait_for_messages(ADMIN, 2, timeout=15)
            assert "Replica the-bot · role bot" in status.visible
            assert "Scorer: the-scorer · lease expires in" in status.visible

            seen = scorer.count(r"cycle \d+: ")
            await scorer.wait_for(r"cycle \d+: ok", n=seen + 1)
            stress_btc(fake)
            # Only the worker drains the outbox; it polls, the scorer cannot wake it.
            await tg.wait_until(lambda: len(alerts_to(tg, ADMIN)) >= 1, timeout=90)
            seen = scorer.count(r"cycle \d+: ")
            await scorer.wait_for(r"cycle \d+: ", n=seen + 2)
            assert len(alerts_to(tg, ADMIN)) == 1
        finally:
            codes = [await p.stop(signal.SIGTERM) for p in procs.values()]
    assert codes == [0, 0, 0]
    assert bot.count(r"cycle \d+: ") == 0 and worker.count(r"cycle \d+: ") == 0
    assert scorer.count("telegram") == 0  # the scorer role has no Telegram side at all
    assert all(p.count("Traceback") == 0 for p in procs.values())
