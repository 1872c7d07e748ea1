"""Process-level faults, as an operator or a supervisor (systemd) meets them: a revoked
token, a second instance on the same database, a busy health port, and the database file
turning read-only or vanishing under a running service. `pressurebot run` runs as a
subprocess against the fake exchange and the fake Bot API (docs/operations.md)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from fakes.fake_binance import FakeBinance
from fakes.fake_telegram import FakeTelegram
from fakes.ports import free_port
from fakes.service_process import ServiceProcess, service_env
from tests.e2e.test_headless_service import lean_market

pytestmark = pytest.mark.slow(seconds=55)


def bot_env(tmp_path: Path, fake: FakeBinance, tg: FakeTelegram, **extra: str) -> dict[str, str]:
    return service_env(
        tmp_path,
        fake.url,
        PRESSUREBOT_TELEGRAM__TOKEN=tg.token,
        PRESSUREBOT_TELEGRAM__BASE_URL=tg.base_url,
        PRESSUREBOT_TELEGRAM__POLL_TIMEOUT_SECONDS="1",
        **extra,
    )


async def healthz(port: int) -> tuple[int, dict[str, Any]]:
    url = f"http://127.0.0.1:{port}/healthz"
    async with aiohttp.ClientSession() as http, http.get(url) as resp:
        return resp.status, await resp.json()


async def run_once(env: dict[str, str], *argv: str) -> tuple[int, ServiceProcess]:
    proc = ServiceProcess(env)
    proc.argv = list(argv)
    await proc.start()
    try:
        return await proc.wait_exit(timeout=120), proc
    finally:
        await proc.kill()


def one_line(proc: ServiceProcess) -> str:
    """The CLI's own `pressurebot: ...` line; asserts there is exactly one and no traceback."""
    mine = [line for line in proc.lines if line.startswith("pressurebot: ")]
    assert len(mine) == 1, proc.lines
    assert proc.count("Traceback") == 0, "\n".join(proc.lines)
    return mine[0]


# ---------------------------------------------------------------- item 7: revoked token


async def test_revoked_token_stops_the_service_with_exit_5_and_one_line(tmp_path: Path) -> None:
    port = free_port()
    async with FakeBinance() as fake, FakeTelegram() as tg:
        lean_market(fake)
        env = bot_env(tmp_path, fake, tg, PRESSUREBOT_HTTP__PORT=str(port))
        svc = await ServiceProcess(env).start()
        after_detection: list[int] = []
        try:
            await svc.wait_for(r"cycle \d+: ok")
            await tg.wait_until(lambda: tg.calls["getUpdates"] >= 1, timeout=10)
            assert (await healthz(port))[0] == 200

            tg.revoke_token()
            await svc.wait_for("Telegram rejected the bot token", timeout=20)
            # The problem is recorded before it is logged: from here on /healthz never
            # says ok, until the process has stopped serving it.
            with contextlib.suppress(aiohttp.ClientError):
                for _ in range(50):
                    after_detection.append((await healthz(port))[0])
            code = await svc.wait_exit(timeout=90)
        finally:
            await svc.kill()
    assert code == 5, "\n".join(svc.lines[-20:])
    assert 200 not in after_detection
    line = one_line(svc)
    assert "Telegram rejected the bot token" in line and "401" in line
    assert svc.lines[-1] == line
    assert tg.token not in "\n".join(svc.lines)


async def test_healthz_reports_an_open_problem_as_unhealthy(tmp_path: Path) -> None:
    """The server side of the above, in process: any recorded problem answers 503."""
    from bot.config import load_settings
    from bot.health import HealthState
    from bot.metrics import Metrics
    from bot.storage.db import create_engine, migrate, session_factory
    from bot.web.health_server import start_health_server

    port = free_port()
    settings = load_settings(
        env={
            "PRESSUREBOT_DATABASE__URL": f"sqlite+aiosqlite:///{tmp_path}/h.db",
            "PRESSUREBOT_HTTP__PORT": str(port),
        }
    )
    engine = create_engine(settings.database)
    await migrate(engine)
    health = HealthState()
    runner = await start_health_server(settings, session_factory(engine), Metrics(), health)
    try:
        health.set_problem("telegram", "token revoked")
        status, body = await healthz(port)
        assert status == 503 and body["status"] == "unhealthy"
        assert body["problems"] == ["token revoked"]
        health.clear("telegram")
        status, body = await healthz(port)
        assert body["problems"] == [] and body["status"] == "stale"  # no cycle yet
    finally:
        await runner.cleanup()
        await engine.dispose()


# ---------------------------------------------------------------- item 17: one process


async def test_second_run_on_the_same_sqlite_file_refuses_naming_the_holder(
    tmp_path: Path,
) -> None:
    async with FakeBinance() as fake, FakeTelegram() as tg:
        lean_market(fake)
        env = bot_env(tmp_path, fake, tg)
        # One cycle, then idle: the scan below must not race a cycle write, which can
        # still fail with "database is locked" until write transactions BEGIN IMMEDIATE.
        first = await ServiceProcess({**env, "PRESSUREBOT_SCORER__INTERVAL_SECONDS": "60"}).start()
        try:
            await first.wait_for(r"cycle \d+: ok")
            code, second = await run_once(env, "run")
            assert code == 3
            line = one_line(second)
            assert f"pid {first.pid}@" in line and "service.db" in line
            assert tg.calls["getMe"] == 1, "the second process talked to Telegram"

            code, migrate = await run_once(env, "migrate")
            assert code == 3 and f"pid {first.pid}@" in one_line(migrate)

            # A scan next to the running service writes its own cycle and prints it.
            code, scan = await run_once(env, "scan")
            assert code == 0, scan.lines
            assert scan.count("Traceback") == 0

            assert first.returncode is None  # unharmed by either
            await first.stop(signal.SIGKILL)
        finally:
            await first.kill()
        # kill -9 leaves the lock file, but the OS released the lock with the process.
        third = await ServiceProcess(env).start()
        try:
            await third.wait_for(r"cycle \d+: ok")
        finally:
            assert await third.stop() == 0
    assert (tmp_path / "service.db.lock").read_text().startswith(f"{third.pid}@")


# ---------------------------------------------------------------- item 19: busy port


async def test_busy_health_port_is_one_line_exit_2_and_nothing_keeps_running(
    tmp_path: Path,
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        async with FakeBinance() as fake, FakeTelegram() as tg:
            lean_market(fake)
            env = bot_env(tmp_path, fake, tg, PRESSUREBOT_HTTP__PORT=str(port))
            code, svc = await run_once(env, "run")
    assert code == 2
    line = one_line(svc)
    assert "http.port" in line and str(port) in line
    assert tg.calls["getUpdates"] == 0, "the bot started polling before the port failed"


# ---------------------------------------------------------------- item 20: the file


@contextlib.contextmanager
def immutable(*paths: Path) -> Iterator[None]:
    """`chattr +i`: the only way to make a file read-only for root without a mount. It
    also refuses writes through descriptors opened before, like a read-only remount."""
    if shutil.which("chattr") is None:
        pytest.skip("chattr is not installed")
    done: list[Path] = []
    try:
        for path in paths:
            result = subprocess.run(["chattr", "+i", str(path)], capture_output=True)
            if result.returncode != 0:
                pytest.skip(f"chattr +i unsupported here: {result.stderr.decode().strip()}")
            done.append(path)
        yield
    finally:
        for path in done:
            subprocess.run(["chattr", "-i", str(path)], check=False)


async def test_read_only_database_refuses_to_start_in_one_line(tmp_path: Path) -> None:
    env = service_env(tmp_path, "http://127.0.0.1:9")  # service.db at head
    with immutable(tmp_path / "service.db"):
        code, svc = await run_once(env, "run")
    assert code == 3
    assert "read-only" in one_line(svc)


async def test_database_turning_read_only_is_noticed_once_and_recovers(tmp_path: Path) -> None:
    from fakes.fake_binance import PREMIUM_INDEX

    port = free_port()
    db = tmp_path / "service.db"
    async with FakeBinance() as fake:
        lean_market(fake)
        env = service_env(tmp_path, fake.url, PRESSUREBOT_HTTP__PORT=str(port))
        svc = await ServiceProcess(env).start()
        try:
            await svc.wait_for(r"cycle \d+: ok")
            files = [p for p in (db, db.with_name("service.db-wal")) if p.exists()]
            with immutable(*files):
                await svc.wait_for("database write failed", timeout=20)
                status, body = await healthz(port)
                assert status == 503 and body["status"] == "unhealthy"
                assert any("database write failed" in p for p in body["problems"])
                fake.reset_counters()
                await fake.wait_for_calls(PREMIUM_INDEX, 3, within=60)  # 3 more cycles
                assert svc.count("database write failed") == 1
            await svc.wait_for("database writes work again", timeout=20)
            seen = svc.count(r"cycle \d+: ok")
            await svc.wait_for(r"cycle \d+: ok", n=seen + 1)
            status, body = await healthz(port)
            assert status == 200 and body["problems"] == []
        finally:
            assert await svc.stop() == 0
    assert svc.count("Traceback") == 0, "\n".join(svc.lines[-80:])


async def test_database_file_moved_away_is_noticed_and_a_deleted_one_is_not_recreated(
    tmp_path: Path,
) -> None:
    port = free_port()
    db = tmp_path / "service.db"
    aside = tmp_path / "aside.db"
    async with FakeBinance() as fake:
        lean_market(fake)
        env = service_env(tmp_path, fake.url, PRESSUREBOT_HTTP__PORT=str(port))
        svc = await ServiceProcess(env).start()
        try:
            await svc.wait_for(r"cycle \d+: ok")
            db.rename(aside)
            await svc.wait_for("was deleted or moved away while running", timeout=20)
            status, body = await healthz(port)
            assert status == 503 and "service.db" in body["problems"][0]

            aside.rename(db)  # the fault clears
            await svc.wait_for("database file .* is back", timeout=20)
            seen = svc.count(r"cycle \d+: ok")
            await svc.wait_for(r"cycle \d+: ok", n=seen + 1)
            assert (await healthz(port))[0] == 200

            os.unlink(db)
            await svc.wait_for("was deleted or moved away while running", n=2, timeout=20)
        finally:
            assert await svc.stop() == 0
        assert svc.count("Traceback") == 0

        # The next start must not create an empty database in its place.
        code, again = await run_once(env, "run")
    assert code == 3
    line = one_line(again)
    assert "service.db is missing" in line and "restore it from a backup" in line
    assert not db.exists()
