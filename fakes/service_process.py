"""Run `pressurebot run` as a subprocess and wait on what it logs (no fixed sleeps)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
from pathlib import Path

from fakes.migrated_db import migrated_sqlite
from fakes.prefork import ForkedProcess, start_cli

ROOT = Path(__file__).resolve().parents[1]


def service_env(
    tmp_path: Path, exchange_url: str, *, migrated: bool = True, **extra: str
) -> dict[str, str]:
    """The environment of a service under test, on `tmp_path/service.db` unless `extra`
    names another database. `migrated`: that file is created at the schema's head from
    a template (fakes/migrated_db.py), so a service start does not run every migration
    again; False leaves it to the service, as on a first install."""
    db = tmp_path / "service.db"
    if migrated and not db.exists():
        migrated_sqlite(db)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PRESSUREBOT_", "TELEGRAM_"))}
    env.update(
        PRESSUREBOT_EXCHANGE__BASE_URL=exchange_url,
        PRESSUREBOT_EXCHANGE__VENUES='["binance"]',
        PRESSUREBOT_EXCHANGE__MAX_RETRIES="1",
        PRESSUREBOT_DATABASE__URL=f"sqlite+aiosqlite:///{db}",
        PRESSUREBOT_SCORER__INTERVAL_SECONDS="1",
        # On PostgreSQL: two test runs side by side start dozens of services and must
        # stay under the server's max_connections (100).
        PRESSUREBOT_DATABASE__POOL_SIZE="2",
        # Charts drawn ahead after every cycle cost ~80 ms each, and these services
        # cycle every second: a fifth of the suite's CPU for charts no test opens (the
        # prerender is tested in-process, tests/telegram/test_tg_chart_*.py).
        PRESSUREBOT_TELEGRAM__CHART_PRERENDER_SYMBOLS="0",
        # The liquidation streams default to the venues' wss:// URLs, and no test touches
        # the internet: a test that wants them points them at the loopback fakes.
        PRESSUREBOT_LIQUIDATIONS__ENABLED="false",
        # Scoring the shipped history for the card's lookalike line costs seconds of CPU
        # per process; tests of it give the bot its states directly.
        PRESSUREBOT_TELEGRAM__LOOKALIKES="false",
        PYTHONPATH=str(ROOT),
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def venues_env(
    tmp_path: Path, binance_url: str, bybit_url: str, okx_url: str, **extra: str
) -> dict[str, str]:
    """`service_env` with all three venues enabled, each at its own address."""
    return service_env(
        tmp_path,
        binance_url,
        PRESSUREBOT_EXCHANGE__VENUES='["binance", "bybit", "okx"]',
        PRESSUREBOT_EXCHANGE__BYBIT_BASE_URL=bybit_url,
        PRESSUREBOT_EXCHANGE__OKX_BASE_URL=okx_url,
        **extra,
    )


class ServiceProcess:
    """The service as a child process; every stderr line is kept and can be awaited."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.argv = ["run"]
        self.lines: list[str] = []
        self._changed = asyncio.Condition()
        self._proc: ForkedProcess | asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> ServiceProcess:
        self._proc = await start_cli(*self.argv, env=self.env, stdout=asyncio.subprocess.DEVNULL)
        self._reader = asyncio.create_task(self._read())
        return self

    async def _read(self) -> None:
        assert self._proc is not None and self._proc.stderr is not None
        while line := await self._proc.stderr.readline():
            async with self._changed:
                self.lines.append(line.decode(errors="replace").rstrip("\n"))
                self._changed.notify_all()
        async with self._changed:
            self._changed.notify_all()

    @property
    def pid(self) -> int:
        assert self._proc is not None
        return self._proc.pid

    @property
    def returncode(self) -> int | None:
        assert self._proc is not None
        return self._proc.returncode

    def count(self, pattern: str) -> int:
        rx = re.compile(pattern)
        return sum(1 for line in self.lines if rx.search(line))

    async def wait_for(self, pattern: str, n: int = 1, timeout: float = 90.0) -> None:
        """Until `pattern` has appeared in at least n lines. The timeout only ends a
        wait that would never return: a busy machine can take half a minute to start a
        service."""

        async def _wait() -> None:
            async with self._changed:
                await self._changed.wait_for(
                    lambda: self.count(pattern) >= n or self._reader is None or self._reader.done()
                )

        try:
            await asyncio.wait_for(_wait(), timeout)
        except TimeoutError:
            raise AssertionError(
                f"timed out waiting for {n}x {pattern!r}; log tail:\n" + "\n".join(self.lines[-30:])
            ) from None
        if self.count(pattern) < n:
            raise AssertionError(
                f"service exited before {n}x {pattern!r}:\n" + "\n".join(self.lines[-30:])
            )

    async def cycles_seen(self) -> int:
        return self.count(r"cycle \d+: ")

    def send_signal(self, sig: int) -> None:
        assert self._proc is not None
        self._proc.send_signal(sig)

    async def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int:
        assert self._proc is not None
        if self._proc.returncode is None:
            self._proc.send_signal(sig)
        code = await asyncio.wait_for(self._proc.wait(), timeout)
        if self._reader is not None:
            await asyncio.wait_for(self._reader, timeout)
        return code

    async def wait_exit(self, timeout: float = 60.0) -> int:
        assert self._proc is not None
        code = await asyncio.wait_for(self._proc.wait(), timeout)
        if self._reader is not None:
            await asyncio.wait_for(self._reader, timeout)
        return code

    async def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            if self._proc is not None and self._proc.returncode is None:
                self._proc.kill()
                await self._proc.wait()
        if self._reader is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._reader, 5)
