"""A TCP port for a service under test to listen on, chosen by the test.

Binding port 0 and handing its number on is a race: the service binds it a second or
two later, and meanwhile the kernel may hand the same number to someone else, as the
local port of an outgoing connection or to a fake binding port 0, all drawn from the
ephemeral range. With two test runs side by side that happened ("address already in
use"). So the port comes from below that range, where the kernel hands out nothing, at
random, and is checked free.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

LOWEST = 10_000  # above the ports well-known services use
_EPHEMERAL = Path("/proc/sys/net/ipv4/ip_local_port_range")
_random = random.SystemRandom()


def free_port() -> int:
    start = _ephemeral_start()
    for _ in range(200):
        port = _random.randrange(LOWEST, start)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port between {LOWEST} and {start}")


def _ephemeral_start() -> int:
    try:
        return int(_EPHEMERAL.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768  # Linux's default
