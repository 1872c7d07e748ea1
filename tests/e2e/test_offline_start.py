"""What a new user meets with no network, as `pressurebot` itself (a subprocess): the
three venues are closed loopback ports, so every request is refused at once.

- `run`: one short line when no venue answers (not one per retry naming every
  venue's error, nor "aggregates continue on the other venues" while none does), and
  one when a venue answers again; no replica or lease words on SQLite.
- A restart after failed cycles scores at once instead of waiting out an interval.
- `scan`: one line on stderr; `scan --exchange binance` asks Binance only.
"""

from __future__ import annotations

import json
import re
import signal
import socket
from pathlib import Path

import pytest

from fakes.fake_binance import FakeBinance
from fakes.fake_bybit import FakeBybit
from fakes.fake_okx import FakeOkx
from fakes.service_process import ServiceProcess, service_env, venues_env
from tests.test_cli import run_cli
from tests.test_scan_venues import _set_up

pytestmark = pytest.mark.slow


def closed_port() -> int:
    """A loopback port nobody listens on: connecting is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def offline_env(tmp_path: Path, ports: tuple[int, int, int], **extra: str) -> dict[str, str]:
    binance, bybit, okx = (f"http://127.0.0.1:{p}" for p in ports)
    return venues_env(tmp_path, binance, bybit, okx, **extra)


def at(level: str, lines: list[str]) -> list[str]:
    return [line for line in lines if f" {level} " in line]


async def test_offline_run_says_each_change_once_and_no_replica_words(tmp_path: Path) -> None:
    ports = (closed_port(), closed_port(), closed_port())
    # DEBUG, so the test can wait for the quiet retries that are not news at INFO.
    env = offline_env(
        tmp_path,
        ports,
        PRESSUREBOT_LOGGING__LEVEL="DEBUG",
        PRESSUREBOT_EXCHANGE__VENUE_DROP_AFTER_CYCLES="1",
    )
    svc = await ServiceProcess(env).start()
    try:
        # Past exchange.venue_drop_after_cycles: every venue has left the aggregates.
        await svc.wait_for(r"failed cycle 2 in a row", timeout=120)
        async with FakeBinance(port=ports[0]) as fake:
            fake.add_symbol("BTCUSDT", mark=50_010, index=50_000, funding_rate=0.0001, oi=8e4)
            await svc.wait_for(r"bot\.cycle\.loop: cycle \d+: ", timeout=120)
    finally:
        assert await svc.stop(signal.SIGTERM) == 0
    news = at("WARNING", svc.lines) + at("INFO", svc.lines) + at("ERROR", svc.lines)
    down = [line for line in news if "no venue answers" in line]
    assert len(down) == 1, "\n".join(news)
    assert "binance, bybit, okx (Connection refused)" in down[0]
    assert not [line for line in news if "aggregates continue" in line]
    assert len([line for line in news if "unavailable this cycle" in line]) == 0
    back = [line for line in news if "answers again" in line]
    assert len(back) == 1 and "binance answers again; still failing: bybit, okx" in back[0]
    assert max(len(line) for line in news if "bot.cycle" in line) < 200
    # One process on SQLite: nothing about replicas or leases above DEBUG.
    assert not [line for line in news if re.search(r"replica|lease", line)], "\n".join(news)
    assert svc.count("Traceback") == 0


async def test_a_restart_after_failed_cycles_scores_at_once(tmp_path: Path) -> None:
    """Failed cycles are no reason to wait: with no good cycle within one interval (here:
    none at all), the first cycle runs at once, though the interval is 5 minutes."""
    port = closed_port()
    env = service_env(tmp_path, f"http://127.0.0.1:{port}", PRESSUREBOT_LOGGING__LEVEL="DEBUG")
    offline = await ServiceProcess(env).start()
    try:
        await offline.wait_for(r"failed cycle 2 in a row", timeout=120)
    finally:
        assert await offline.stop(signal.SIGTERM) == 0

    async with FakeBinance(port=port) as fake:
        fake.add_symbol("BTCUSDT", mark=50_010, index=50_000, funding_rate=0.0001, oi=8e4)
        env["PRESSUREBOT_SCORER__INTERVAL_SECONDS"] = "300"
        online = await ServiceProcess(env).start()
        try:
            await online.wait_for(r"first cycle in 0\.0s", timeout=120)
            await online.wait_for(r"cycle \d+: ok", timeout=120)
        finally:
            assert await online.stop(signal.SIGTERM) == 0


async def test_offline_scan_is_one_line(tmp_path: Path) -> None:
    env = offline_env(tmp_path, (closed_port(), closed_port(), closed_port()))
    code, out, err = await run_cli("scan", env=env)
    assert code == 4
    assert out == ""
    assert err.splitlines() == [
        "pressurebot: no venue answers: binance, bybit, okx (Connection refused)"
    ]


async def test_scan_of_one_exchange_asks_that_venue_only(tmp_path: Path) -> None:
    async with FakeBinance() as fb, FakeBybit() as fy, FakeOkx() as fo:
        _set_up(fb, fy, fo)
        env = venues_env(tmp_path, fb.url, fy.url, fo.url)
        code, out, err = await run_cli("scan", "--exchange", "binance", "--json", env=env)
        assert code == 0, err
        assert {row["exchange"] for row in json.loads(out)["rows"]} == {"binance"}
        assert sum(fb.calls.values()) > 0
        assert sum(fy.calls.values()) == 0 and sum(fo.calls.values()) == 0

        # A venue that is down is named with its own address, in one line.
        await fy.stop()
        code, _, err = await run_cli("scan", "--exchange", "bybit", env=env)
    assert code == 4
    assert len(err.splitlines()) == 1
    assert err.startswith(f"pressurebot: exchange {fy.url} unavailable: cannot reach")
