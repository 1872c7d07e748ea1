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
import ctypes
import io
import json
import os
import selectors
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parents[1]
EXEC_ENV = "PRESSUREBOT_TEST_EXEC"  # set to 1: every start is a real exec (no fork server)
# What `pressurebot run` (with Telegram, the web page and both databases) imports by its
# first cycle; anything else a child imports itself, as a fresh process would.
PRELOAD = (
    "bot.cli",
    "bot.service",
    "bot.telegram.app",
    "bot.web.pages",
    "bot.storage.db",
    "sqlalchemy.dialects.sqlite.aiosqlite",
    "sqlalchemy.dialects.postgresql.asyncpg",
    "aiosqlite",
    "asyncpg",
    "alembic.command",
)
_HEADER = struct.Struct("!I")
_PR_SET_PDEATHSIG = 1


# ------------------------------------------------------------------------------ client


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
        sock.connect(str(path))
        socket.send_fds(sock, [_HEADER.pack(len(request)) + request], fds)
    finally:
        for fd in theirs:
            os.close(fd)
    sock.setblocking(False)
    status, writer = await asyncio.open_unix_connection(sock=sock)
    pid = int(await status.readline())
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
_server_lock = threading.Lock()


def _server_path() -> Path | None:
    """This test process's fork server, started on first use (it imports for a second
    or two: call it in a thread); None if it cannot run."""
    global _server, _server_socket
    with _server_lock:
        if _server is not None and _server.poll() is None:
            return _server_socket
        if sys.platform != "linux":
            return None
        path = Path(tempfile.mkdtemp(prefix="pressurebot-prefork-")) / "s"
        env = {
            k: v for k, v in os.environ.items() if not k.startswith(("PRESSUREBOT_", "TELEGRAM_"))
        }
        env["PYTHONPATH"] = str(ROOT)
        _server = subprocess.Popen(
            [sys.executable, "-c", f"from fakes.prefork import serve; serve({str(path)!r})"],
            env=env,
            stdin=subprocess.PIPE,  # never written: EOF tells the server this process is gone
            stdout=subprocess.PIPE,  # one line once it listens
        )
        assert _server.stdout is not None
        if _server.stdout.readline() != b"ready\n":  # EOF: it died; start by exec instead
            _server.wait()
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


# ------------------------------------------------------------------------------ server


def serve(path: str) -> None:
    """Import the product, then fork a child per request until stdin closes (the test
    process is gone). Not PR_SET_PDEATHSIG here: it fires when the *thread* that
    started the server ends, and the client starts it from a worker thread."""
    for name in PRELOAD:
        __import__(name)
    if threading.active_count() != 1:  # a fork would copy a process mid-way in a thread
        raise SystemExit("prefork: an import started a thread; use PRESSUREBOT_TEST_EXEC=1")
    import gc

    gc.collect()
    gc.freeze()  # children do not touch (and copy) these pages to scan them
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    tmp = path + ".tmp"
    listener.bind(tmp)
    listener.listen(64)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ, "accept")
    selector.register(wake_r, selectors.EVENT_READ, "reap")
    selector.register(sys.stdin.fileno(), selectors.EVENT_READ, "parent")
    os.rename(tmp, path)
    sys.stdout.write("ready\n")  # the client waits for this line
    sys.stdout.flush()
    children: dict[int, socket.socket] = {}
    while True:
        for key, _ in selector.select():
            if key.data == "parent":
                for pid in children:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                return
            if key.data == "reap":
                with contextlib.suppress(BlockingIOError):
                    os.read(wake_r, 4096)
                _reap(children, selector)
            elif key.data == "accept":
                conn, _ = listener.accept()
                pid = _fork_one(conn, path)
                if pid is None:
                    conn.close()
                    continue
                children[pid] = conn
                selector.register(conn, selectors.EVENT_READ, pid)
            else:  # the client's connection: EOF means it went away
                conn = key.fileobj
                assert isinstance(conn, socket.socket)
                if not conn.recv(64):
                    selector.unregister(conn)
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(key.data, signal.SIGKILL)


def _reap(children: dict[int, socket.socket], selector: selectors.BaseSelector) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        conn = children.pop(pid, None)
        if conn is None:
            continue
        code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
        with contextlib.suppress(OSError):
            conn.sendall(f"{code}\n".encode())
        with contextlib.suppress(KeyError, ValueError):
            selector.unregister(conn)
        conn.close()


def _fork_one(conn: socket.socket, path: str) -> int | None:
    header, fds, _, _ = socket.recv_fds(conn, 1 << 16, 3)
    while len(header) < _HEADER.size or len(header) < _HEADER.size + _HEADER.unpack_from(header)[0]:
        more = conn.recv(1 << 16)
        if not more:
            for fd in fds:
                os.close(fd)
            return None
        header += more
    request = json.loads(header[_HEADER.size :])
    sys.stdout.flush()
    sys.stderr.flush()
    server = os.getpid()
    pid = os.fork()
    if pid == 0:
        try:
            _child(request, fds, server)
        finally:
            os._exit(70)  # _child never returns; this only guards a bug in it
    for fd in fds:
        os.close(fd)
    conn.sendall(f"{pid}\n".encode())
    return pid


def _child(request: dict[str, Any], fds: list[int], server: int) -> None:
    """In the forked child: become `python -m bot <argv>` and exit as it would."""
    import runpy
    import time

    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _die_with_parent(signal.SIGKILL)
    if os.getppid() != server:
        os._exit(1)
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
    os.closerange(3, 1 << 16)  # the server's sockets, pipes and selector
    env = request["env"]
    os.environ.clear()
    os.environ.update(env)
    time.tzset()
    os.chdir(request["cwd"])
    unbuffered = bool(env.get("PYTHONUNBUFFERED"))
    encoding, errors = sys.stdout.encoding, sys.stdout.errors
    sys.stdin = sys.__stdin__ = io.TextIOWrapper(
        io.BufferedReader(io.FileIO(0, "r", closefd=False)), encoding=encoding, errors=errors
    )
    sys.stdout = sys.__stdout__ = io.TextIOWrapper(
        io.BufferedWriter(io.FileIO(1, "w", closefd=False)),
        encoding=encoding,
        errors=errors,
        write_through=unbuffered,
    )
    sys.stderr = sys.__stderr__ = io.TextIOWrapper(
        io.BufferedWriter(io.FileIO(2, "w", closefd=False)),
        encoding=encoding,
        errors="backslashreplace",
        line_buffering=True,
        write_through=unbuffered,
    )
    sys.argv = ["-m", *request["argv"]]  # run_module puts bot/__main__.py first, as -m
    code = 0
    try:
        runpy.run_module("bot", run_name="__main__", alter_sys=True)
    except SystemExit as exc:
        code = _exit_code(exc.code)
    except BaseException:
        sys.excepthook(*sys.exc_info())
        code = 1
    # What the interpreter does on its way out: join threads, run atexit, flush.
    with contextlib.suppress(BaseException):
        threading._shutdown()  # type: ignore[attr-defined]
    with contextlib.suppress(BaseException):
        atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(BaseException):
            stream.flush()
    os._exit(code)


def _exit_code(value: object) -> int:
    if value is None:
        return 0
    if isinstance(value, int):
        return value & 0xFF
    print(value, file=sys.stderr)
    return 1


def _die_with_parent(sig: int) -> None:
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
