"""`python -m bot ...` for the tests, started by forking a process that has already
imported the product, instead of a new interpreter importing it all again.

The suite starts about 150 `pressurebot` processes (services, replicas, `scan`,
`migrate`, bad configurations). A new interpreter spends 1.3-1.9 s of CPU importing
SQLAlchemy, aiohttp, PTB, pydantic and our ~250 modules before the command does
anything, which made these starts a third of the suite's CPU. A fork server (one per
test process, started on first use) imports them once; each start is then a fork whose
child runs exactly what `python -m bot` runs (`runpy`, then bot/__main__.py) in a
process of its own, with its own pid, environment, standard streams, signals and exit
status. What it does not exercise is the interpreter's start and the imports, which
the tests that run `python -m bot --help` still do with a real exec
(tests/test_cli.py), as does every start with PRESSUREBOT_TEST_EXEC=1.

Protocol, over a Unix socket, one connection per process started: the client sends a
length-prefixed JSON request (argv, env, cwd) with its stdin, stdout and stderr file
descriptors attached (SCM_RIGHTS); the server answers the child's pid, then, when it
has reaped the child, its return code as asyncio reports one (negative: the signal that
ended it). A client that goes away first takes its child with it (SIGKILL), and every
child dies with the server (PR_SET_PDEATHSIG), which ends when its test process does.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import IO

from fakes.prefork_server import HEADER

ROOT = Path(__file__).resolve().parents[1]
EXEC_ENV = "PRESSUREBOT_TEST_EXEC"  # set to 1: every start is a real exec (no fork server)


class ForkedProcess:
    """The part of asyncio.subprocess.Process the tests use."""

    def __init__(
        self,
        pid: int,
        status: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        stdout: asyncio.StreamReader | None,
        stderr: asyncio.StreamReader | None,
    ) -> None:
        self.pid = pid
        self.returncode: int | None = None
        self.stdout = stdout
        self.stderr = stderr
        self._status = status
        self._writer = writer
        self._waiter: asyncio.Task[int] | None = None

    async def wait(self) -> int:
        if self._waiter is None:
            self._waiter = asyncio.ensure_future(self._read_status())
        return await asyncio.shield(self._waiter)

    async def _read_status(self) -> int:
        line = await self._status.readline()
        self._writer.close()
        if not line:
            raise RuntimeError(f"fork server went away before process {self.pid} ended")
        self.returncode = int(line)
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self.returncode is None:
            # Reaped by the server, its status not read yet: gone, as Popen says.
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    async def communicate(self) -> tuple[bytes, bytes]:
        async def drain(stream: asyncio.StreamReader | None) -> bytes:
            return b"" if stream is None else await stream.read()

        out, err, _ = await asyncio.gather(drain(self.stdout), drain(self.stderr), self.wait())
        return out, err


async def start_cli(
    *argv: str,
    env: dict[str, str],
    stdout: int | None = subprocess.PIPE,
    stderr: int | None = subprocess.PIPE,
) -> ForkedProcess | asyncio.subprocess.Process:
    """`python -m bot *argv` with `env`; stdout/stderr: PIPE or DEVNULL, as for
    asyncio.create_subprocess_exec (stdin is /dev/null)."""
    path = None if os.environ.get(EXEC_ENV) == "1" else await asyncio.to_thread(_server_path)
    if path is None:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            *argv,
            env=env,
            stdout=stdout,
            stderr=stderr,
            stdin=subprocess.DEVNULL,
        )
    for choice in (stdout, stderr):
        if choice not in (subprocess.PIPE, subprocess.DEVNULL):
            raise ValueError("start_cli takes PIPE or DEVNULL for stdout and stderr")
    loop = asyncio.get_running_loop()
    ours: list[IO[bytes]] = []  # the read ends we keep
    theirs: list[int] = []  # the child's ends, closed here once sent
    devnull = os.open(os.devnull, os.O_RDWR)
    theirs.append(devnull)
    fds = [devnull]
    for choice in (stdout, stderr):
        if choice == subprocess.PIPE:
            r, w = os.pipe()
            ours.append(os.fdopen(r, "rb", buffering=0))
            theirs.append(w)
            fds.append(w)
        else:
            fds.append(devnull)
    request = json.dumps({"argv": list(argv), "env": env, "cwd": os.getcwd()}).encode()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        try:
            sock.connect(str(path))
            socket.send_fds(sock, [HEADER.pack(len(request)) + request], fds)
        finally:
            for fd in theirs:
                os.close(fd)
        sock.setblocking(False)
        status, writer = await asyncio.open_unix_connection(sock=sock)
        pid = int(await status.readline())  # ValueError on EOF: the server refused
    except BaseException:
        sock.close()  # the server kills a child whose client is gone
        for stream in ours:
            stream.close()
        raise
    readers: list[asyncio.StreamReader | None] = []
    for choice in (stdout, stderr):
        if choice != subprocess.PIPE:
            readers.append(None)
            continue
        reader = asyncio.StreamReader(limit=2**20)
        await loop.connect_read_pipe(lambda r=reader: asyncio.StreamReaderProtocol(r), ours.pop(0))
        readers.append(reader)
    return ForkedProcess(pid, status, writer, readers[0], readers[1])


_server: subprocess.Popen[bytes] | None = None
_server_socket: Path | None = None
_server_failed = False  # it could not start once: exec from then on
_server_lock = threading.Lock()


def _server_path() -> Path | None:
    """This test process's fork server, started on first use (it imports for a second
    or two: call it in a thread); None if it cannot run."""
    global _server, _server_socket, _server_failed
    with _server_lock:
        if _server is not None and _server.poll() is None:
            return _server_socket
        if _server_failed or sys.platform != "linux":
            return None
        folder = tempfile.mkdtemp(prefix="pressurebot-prefork-")
        atexit.register(shutil.rmtree, folder, True)
        path = Path(folder) / "s"
        env = {
            k: v for k, v in os.environ.items() if not k.startswith(("PRESSUREBOT_", "TELEGRAM_"))
        }
        env["PYTHONPATH"] = str(ROOT)
        # numpy's OpenBLAS starts a thread pool when loaded, and a fork copies only the
        # thread that forks; with one BLAS thread there is no pool (serve checks).
        env["OPENBLAS_NUM_THREADS"] = "1"
        _server = subprocess.Popen(
            [sys.executable, "-c", f"from fakes.prefork_server import serve; serve({str(path)!r})"],
            env=env,
            stdin=subprocess.PIPE,  # never written: EOF tells the server this process is gone
            stdout=subprocess.PIPE,  # one line once it listens
        )
        assert _server.stdout is not None
        if _server.stdout.readline() != b"ready\n":  # EOF: it died; start by exec instead
            _server.wait()
            _server_failed = True
            return None
        _server_socket = path
        atexit.register(_stop_server, _server)
        return path


def _stop_server(server: subprocess.Popen[bytes]) -> None:
    """At this process's exit: the server ends on EOF (killing what is left) and is
    reaped here, so its children's CPU is counted where the tests' is (`time make test`)."""
    if server.stdin is not None:
        server.stdin.close()
    with contextlib.suppress(subprocess.TimeoutExpired):
        server.wait(timeout=30)
