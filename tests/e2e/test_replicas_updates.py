"""Updates reach exactly one replica (docs/operations.md, "Webhook mode behind a load
balancer"): several `pressurebot run` subprocesses on one PostgreSQL database, sharing
one fake Bot API and one fake exchange in this process.

- webhook mode: updates posted round-robin to 3 replicas are each answered once; a wrong
  secret token is refused with 403 and never processed; setWebhook is called once;
- polling mode: of two replicas only the lease holder polls, no 409 in the logs; after
  kill -9 of the poller the other takes over within the lease plus a few seconds;
- a rolling restart of 3 webhook replicas while users send commands: every command is
  answered, by trying the next replica on a refused connection, as a load balancer does.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from fakes.fake_binance import FakeBinance
from fakes.fake_telegram import FakeTelegram
from fakes.migrated_db import migrated_postgres
from fakes.ports import free_port
from fakes.service_process import ServiceProcess, service_env
from tests.e2e.service_db import read_until
from tests.e2e.test_headless_service import lean_market

pytestmark = pytest.mark.slow

POSTGRES_ENV = "PRESSUREBOT_TEST_POSTGRES_URL"
SECRET = "s3cret-Token_for-the-webhook"
WEBHOOK_URL = "https://bot.example.test/telegram/webhook"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# Short, so a standby takes over soon after a kill; not shorter, so a replica a busy test
# machine starves of CPU for a few seconds keeps its leases (a lapse would stop and
# restart its polling, which these tests count as once).
LEASE_SECONDS = 6.0
STARTED = r"telegram bot @\w+ started"


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    """A database per test: replicas are separate processes, so a schema on one
    connection's search_path would not do."""
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        pytest.skip(f"replica tests need PostgreSQL: set {POSTGRES_ENV} (postgresql+asyncpg://...)")
    # At head already: replicas starting together find it current (a concurrent first
    # migration is the migrate lock's business, tests/storage/test_migrate_lock.py).
    async with migrated_postgres(url) as db_url:
        yield db_url


def replica_env(
    tmp_path: Path,
    db_url: str,
    fake: FakeBinance,
    tg: FakeTelegram,
    name: str,
    port: int,
    webhook: bool,
) -> dict[str, str]:
    extra = {
        "PRESSUREBOT_DATABASE__URL": db_url,
        "PRESSUREBOT_REPLICA__NAME": name,
        "PRESSUREBOT_REPLICA__LEASE_SECONDS": str(LEASE_SECONDS),
        "PRESSUREBOT_TELEGRAM__TOKEN": tg.token,
        "PRESSUREBOT_TELEGRAM__BASE_URL": tg.base_url_for(name),
        "PRESSUREBOT_TELEGRAM__POLL_TIMEOUT_SECONDS": "1",
        "PRESSUREBOT_HTTP__PORT": str(port),
        # One cycle at start is enough data for /top; these tests are about updates.
        "PRESSUREBOT_SCORER__INTERVAL_SECONDS": "600",
    }
    if webhook:
        extra["PRESSUREBOT_TELEGRAM__WEBHOOK_URL"] = WEBHOOK_URL
        extra["PRESSUREBOT_TELEGRAM__WEBHOOK_SECRET"] = SECRET
    return service_env(tmp_path, fake.url, **extra)


@contextlib.asynccontextmanager
async def replicas(
    tmp_path: Path, db_url: str, fake: FakeBinance, tg: FakeTelegram, n: int, webhook: bool
) -> AsyncIterator[list[tuple[ServiceProcess, int]]]:
    procs: list[tuple[ServiceProcess, int]] = []
    try:
        for i in range(n):
            port = free_port()
            env = replica_env(tmp_path, db_url, fake, tg, f"r{i + 1}", port, webhook)
            procs.append((await ServiceProcess(env).start(), port))
        await asyncio.gather(*(proc.wait_for(STARTED, timeout=45) for proc, _ in procs))
        yield procs
    finally:
        await asyncio.gather(*(proc.kill() for proc, _ in procs))


class Balancer:
    """What a load balancer does with Telegram's posts: round-robin over the replicas,
    and on a refused connection or a 503 (a replica starting or stopping) the next one."""

    def __init__(self, http: aiohttp.ClientSession, ports: list[int]) -> None:
        self.http = http
        self.ports = ports
        self._next = itertools.cycle(range(len(ports)))
        self.retries = 0

    async def post(
        self, update: dict[str, Any], secret: str = SECRET, deadline: float = 30.0
    ) -> int:
        give_up = time.monotonic() + deadline
        while True:
            port = self.ports[next(self._next)]
            url = f"http://127.0.0.1:{port}/telegram/webhook"
            try:
                async with self.http.post(
                    url, json=update, headers={SECRET_HEADER: secret}
                ) as resp:
                    if resp.status != 503:
                        return resp.status
            except aiohttp.ClientConnectionError:
                pass
            self.retries += 1
            if time.monotonic() > give_up:
                raise AssertionError(f"no replica took update {update['update_id']}")
            await asyncio.sleep(0.05)


async def wait_answered(tg: FakeTelegram, chats: list[int], timeout: float) -> None:
    try:
        await tg.wait_until(lambda: all(tg.messages_to(c) for c in chats), timeout)
    except TimeoutError:
        missing = [c for c in chats if not tg.messages_to(c)]
        raise AssertionError(
            f"{len(missing)} of {len(chats)} commands unanswered: {missing[:10]}"
        ) from None


def answers_per_chat(tg: FakeTelegram, chats: list[int]) -> dict[int, int]:
    return {c: len(tg.messages_to(c)) for c in chats}


COMMANDS = ("/help", "/start", "/top")
GROUP = -5001


async def outside_minute_edge() -> None:
    """Command limits count in fixed minute windows of the database clock (this host's):
    a burst sent across a window edge would count in two."""
    left = 60 - time.time() % 60
    if left < 10:
        await asyncio.sleep(left + 0.2)


async def test_webhook_round_robin_answers_each_command_once_and_refuses_a_wrong_secret(
    tmp_path: Path, pg_url: str
) -> None:
    async with FakeBinance() as fake, FakeTelegram() as tg:
        lean_market(fake)
        async with replicas(tmp_path, pg_url, fake, tg, 3, webhook=True) as procs:
            await tg.wait_until(lambda: tg.webhook is not None, timeout=15)
            ports = [port for _, port in procs]
            async with aiohttp.ClientSession() as http:
                lb = Balancer(http, ports)
                intruder = 999_001
                for port in ports:  # straight to each replica, past the balancer
                    bad = tg.message_update(intruder, "/start")
                    for headers in ({SECRET_HEADER: "wrong"}, {}):
                        url = f"http://127.0.0.1:{port}/telegram/webhook"
                        async with http.post(url, json=bad, headers=headers) as resp:
                            assert resp.status == 403
                chats = list(range(1001, 1061))
                for i, chat in enumerate(chats):
                    status = await lb.post(tg.message_update(chat, COMMANDS[i % len(COMMANDS)]))
                    assert status == 200
                    await asyncio.sleep(0.05)  # about what 60 users typing at once send
                await wait_answered(tg, chats, timeout=90)
                # One busy group, its members' commands spread over the replicas: the
                # group's limit (10 a minute, then one note) is counted in the database,
                # so the replicas together answer 10, not 10 each.
                await outside_minute_edge()
                for i in range(14):
                    update = tg.message_update(GROUP, "/help", user_id=500 + i)
                    assert await lb.post(update) == 200
                await tg.wait_for_messages(GROUP, 11, timeout=20)
                # A last command through every replica: answered after the others had
                # their chance to be answered twice.
                last = [2001, 2002, 2003]
                for chat in last:
                    assert await lb.post(tg.message_update(chat, "/help")) == 200
                await wait_answered(tg, last, timeout=15)
            counts = answers_per_chat(tg, chats + last)
            assert set(counts.values()) == {1}, {c: n for c, n in counts.items() if n != 1}
            assert tg.messages_to(intruder) == []
            group = [m.visible for m in tg.messages_to(GROUP)]
            notes = [t for t in group if t.startswith("This group is sending commands")]
            assert len(group) == 11 and len(notes) == 1, group
            assert tg.calls["setWebhook"] == 1
            assert tg.calls["getUpdates"] == 0
            served = [proc.count("webhook: refused a request") for proc, _ in procs]
            assert all(served), served
            logs = "\n".join(line for proc, _ in procs for line in proc.lines)
            assert SECRET not in logs and tg.token not in logs
            assert "Traceback" not in logs


async def test_polling_only_the_lease_holder_polls_and_a_standby_takes_over_after_kill_9(
    tmp_path: Path, pg_url: str
) -> None:
    async with FakeBinance() as fake, FakeTelegram() as tg:
        lean_market(fake)
        # Left from webhook mode: the poller deletes it first, so it never meets a 409.
        tg.webhook = {"url": WEBHOOK_URL, "secret_token": SECRET, "allowed_updates": None}
        async with replicas(tmp_path, pg_url, fake, tg, 2, webhook=False) as procs:
            await tg.wait_until(lambda: bool(tg.pollers), timeout=15)
            assert tg.webhook is None and tg.calls["deleteWebhook"] >= 1
            chats = list(range(3001, 3031))
            for i, chat in enumerate(chats):
                tg.push_message(chat, COMMANDS[i % len(COMMANDS)])
            await wait_answered(tg, chats, timeout=90)
            assert set(answers_per_chat(tg, chats).values()) == {1}
            assert len(tg.pollers) == 1, tg.pollers  # the standby never called getUpdates
            assert tg.conflicts == 0
            [poller_name] = tg.pollers
            by_name = {f"r{i + 1}": proc for i, (proc, _) in enumerate(procs)}
            poller, standby = (
                by_name[poller_name],
                next(p for n, p in by_name.items() if n != poller_name),
            )
            assert poller.count("receiving updates by polling") == 1
            assert poller.count("switching to polling: deleting the webhook") == 1
            assert standby.count("receiving updates by polling") == 0

            await poller.stop(signal.SIGKILL)
            killed = time.monotonic()
            after = list(range(4001, 4011))
            for chat in after:
                tg.push_message(chat, "/help")
            # Taken over one lease (6 s) and a try (2 s) after the kill on a quiet
            # machine; the timeout is a generous limit, not a measurement: a busy test
            # machine may delay the standby's try by seconds.
            await wait_answered(tg, after, timeout=LEASE_SECONDS + 45)
            takeover = time.monotonic() - killed
            assert set(answers_per_chat(tg, after).values()) == {1}
            assert standby.count("receiving updates by polling") == 1
            for proc in (poller, standby):
                assert proc.count("Conflict") == 0, "\n".join(proc.lines)
            print(f"takeover after kill -9: {takeover:.2f}s (lease {LEASE_SECONDS}s)")


async def test_rolling_restart_of_three_webhook_replicas_answers_every_command(
    tmp_path: Path, pg_url: str
) -> None:
    async with FakeBinance() as fake, FakeTelegram() as tg:
        lean_market(fake)
        async with replicas(tmp_path, pg_url, fake, tg, 3, webhook=True) as procs:
            await tg.wait_until(lambda: tg.webhook is not None, timeout=15)
            sent: list[int] = []
            done = asyncio.Event()
            async with aiohttp.ClientSession() as http:
                lb = Balancer(http, [port for _, port in procs])

                async def users() -> None:
                    for chat in itertools.count(5001):
                        if done.is_set():
                            return
                        assert await lb.post(tg.message_update(chat, "/help")) == 200
                        sent.append(chat)
                        await asyncio.sleep(0.1)

                client = asyncio.create_task(users())
                try:
                    for i, (proc, port) in enumerate(procs):
                        assert await proc.stop() == 0, "\n".join(proc.lines[-20:])
                        # Until a command has met the stopped replica and gone to
                        # another: an event, however quickly the replica restarts.
                        retried = lb.retries
                        await read_until(
                            lambda: lb.retries, lambda n, was=retried: n > was, timeout=30
                        )
                        fresh = await ServiceProcess(proc.env).start()
                        procs[i] = (fresh, port)
                        await fresh.wait_for(STARTED, timeout=45)
                    more = len(sent) + 5  # a few commands to the restarted set
                    await read_until(lambda: len(sent), lambda n: n >= more, timeout=30)
                finally:
                    done.set()
                    await client
            await wait_answered(tg, sent, timeout=90)
            counts = answers_per_chat(tg, sent)
            assert set(counts.values()) == {1}, {c: n for c, n in counts.items() if n != 1}
            assert lb.retries >= len(procs)  # each restart met at least one command
            assert tg.calls["setWebhook"] == 1  # nobody re-registered it while restarting
            print(f"rolling restart: {len(sent)} commands, {lb.retries} retried on another replica")
