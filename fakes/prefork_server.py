"""The fork server behind fakes/prefork.py: imports the product once, then forks a
child per request that becomes `python -m bot <argv>` (see that module for why and for
the protocol). Runs in a process of its own, started by fakes/prefork.py."""

from __future__ import annotations

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
import sys
import threading
from typing import Any

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
HEADER = struct.Struct("!I")  # the request's length, before it
_PR_SET_PDEATHSIG = 1


def serve(path: str) -> None:
    """Import the product, then fork a child per request until stdin closes (the test
    process is gone). Not PR_SET_PDEATHSIG here: it fires when the *thread* that
    started the server ends, and the client starts it from a worker thread."""
    for name in PRELOAD:
        __import__(name)
    if len(os.listdir("/proc/self/task")) != 1:  # a fork copies only the forking thread
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
                _end(children)
                return
            try:
                if key.data == "reap":
                    with contextlib.suppress(BlockingIOError):
                        os.read(wake_r, 4096)
                    _reap(children, selector)
                elif key.data == "accept":
                    _accept(listener, children, selector)
                else:
                    _client_event(key, children, selector)
            except Exception as exc:  # one client's trouble must not end every child
                print(f"prefork: {exc!r}", file=sys.stderr, flush=True)


def _accept(
    listener: socket.socket, children: dict[int, socket.socket], selector: selectors.BaseSelector
) -> None:
    conn, _ = listener.accept()
    try:
        pid = _fork_one(conn)
    except BaseException:
        conn.close()
        raise
    if pid is None:
        conn.close()
        return
    children[pid] = conn
    selector.register(conn, selectors.EVENT_READ, pid)


def _client_event(
    key: selectors.SelectorKey,
    children: dict[int, socket.socket],
    selector: selectors.BaseSelector,
) -> None:
    """A client's connection is readable: it went away (EOF or reset). Its child goes
    too; `_reap` then closes the connection."""
    conn = key.fileobj
    assert isinstance(conn, socket.socket)
    if conn.fileno() < 0:  # already closed by _reap in this same batch of events
        return
    try:
        data = conn.recv(64)
    except OSError:
        data = b""
    if data:
        return
    selector.unregister(conn)
    if key.data in children:
        with contextlib.suppress(ProcessLookupError):
            os.kill(key.data, signal.SIGKILL)


def _end(children: dict[int, socket.socket]) -> None:
    """The test process is gone: its children go too, reaped here."""
    for pid in children:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    for pid in children:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)


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


def _fork_one(conn: socket.socket) -> int | None:
    header, fds, _, _ = socket.recv_fds(conn, 1 << 16, 3)
    while len(header) < HEADER.size or len(header) < HEADER.size + HEADER.unpack_from(header)[0]:
        more = conn.recv(1 << 16)
        if not more:
            for fd in fds:
                os.close(fd)
            return None
        header += more
    request = json.loads(header[HEADER.size :])
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
    try:
        conn.sendall(f"{pid}\n".encode())
    except OSError:  # the client left before its pid: the child goes (reaped later)
        os.kill(pid, signal.SIGKILL)
    return pid


def _child(request: dict[str, Any], fds: list[int], server: int) -> None:
    """In the forked child: become `python -m bot <argv>` and exit as it would."""
    import gc
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
    # As the interpreter sets them up: with PYTHONUNBUFFERED (-u) stdout and stderr write
    # straight to the fd; otherwise stdout is block-buffered (a pipe) and stderr is
    # line-buffered.
    unbuffered = bool(env.get("PYTHONUNBUFFERED"))
    encoding, errors = sys.stdout.encoding, sys.stdout.errors

    def writer(fd: int) -> Any:
        raw = io.FileIO(fd, "w", closefd=False)
        return raw if unbuffered else io.BufferedWriter(raw)

    sys.stdin = sys.__stdin__ = io.TextIOWrapper(
        io.BufferedReader(io.FileIO(0, "r", closefd=False)), encoding=encoding, errors=errors
    )
    sys.stdout = sys.__stdout__ = io.TextIOWrapper(
        writer(1), encoding=encoding, errors=errors, write_through=unbuffered
    )
    sys.stderr = sys.__stderr__ = io.TextIOWrapper(
        writer(2),
        encoding=encoding,
        errors="backslashreplace",
        line_buffering=not unbuffered,
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
    gc.collect()  # what is left unclosed warns now, as at an interpreter's end
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:
            code = code or 120  # as the interpreter's own final flush failing
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
