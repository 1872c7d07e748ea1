"""The fork server the tests start `pressurebot` with (fakes/prefork.py) gives what a
real `python -m bot` gives: output, exit codes, signals, pids of their own."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest

from fakes import prefork
from fakes.prefork import EXEC_ENV, ForkedProcess, start_cli
from fakes.service_process import service_env
from tests.test_cli import cli_env

pytestmark = pytest.mark.skipif(
    os.environ.get(EXEC_ENV) == "1", reason=f"{EXEC_ENV}=1: no fork server"
)


async def exec_cli(*argv: str, env: dict[str, str]) -> tuple[int, bytes, bytes]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", *argv, env=env, stdout=-1, stderr=-1, stdin=-3
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, out, err


async def test_a_forked_start_answers_as_an_exec_does(tmp_path: Path) -> None:
    env = cli_env(tmp_path, "http://127.0.0.1:9")
    bad = {**env, "PRESSUREBOT_SCORER__INTERVAL_SECONDS": "0"}
    for argv, environment in [(("--help",), env), (("scan",), bad)]:
        forked = await start_cli(*argv, env=environment)
        assert isinstance(forked, ForkedProcess)  # not the exec fallback
        out, err = await asyncio.wait_for(forked.communicate(), 60)
        assert forked.pid != os.getpid()
        assert (forked.returncode, out, err) == await exec_cli(*argv, env=environment)
    assert forked.returncode == 2 and b"scorer.interval_seconds" in err


async def test_signals_end_a_forked_service_as_they_end_an_exec(tmp_path: Path) -> None:
    env = service_env(tmp_path, "http://127.0.0.1:9")
    for sig, code in [(signal.SIGTERM, 0), (signal.SIGKILL, -signal.SIGKILL)]:
        svc = await start_cli("run", env=env, stdout=asyncio.subprocess.DEVNULL)
        assert svc.stderr is not None
        while b"retrying" not in (line := await asyncio.wait_for(svc.stderr.readline(), 60)):
            assert line, "the service ended before it retried the exchange"
        svc.send_signal(sig)
        assert await asyncio.wait_for(svc.wait(), 60) == code


async def test_a_client_that_leaves_early_ends_its_child_not_the_server(tmp_path: Path) -> None:
    env = service_env(tmp_path, "http://127.0.0.1:9")
    first = await start_cli("run", env=env, stdout=asyncio.subprocess.DEVNULL)
    assert isinstance(first, ForkedProcess)
    server = prefork._server
    ended = asyncio.Event()
    pidfd = os.pidfd_open(first.pid)  # readable once the process has ended
    asyncio.get_running_loop().add_reader(pidfd, ended.set)
    try:
        first._writer.close()  # the test holding it went away: its service goes too
        await asyncio.wait_for(ended.wait(), 60)
    finally:
        asyncio.get_running_loop().remove_reader(pidfd)
        os.close(pidfd)
    again = await start_cli("--help", env=env)
    await asyncio.wait_for(again.communicate(), 60)
    assert again.returncode == 0 and prefork._server is server and server.poll() is None
