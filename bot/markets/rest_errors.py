"""The exchange client's errors and how it words them: `ExchangeApiError` for a 4xx
answer (or a venue's error envelope), and the short reasons it logs and raises (a JSON
error body, Retry-After, a connection error's cause), apart from the client in
`bot.markets.rest_client`.
"""

from __future__ import annotations

import json
import math
import os
import socket
import time
from collections import Counter

import aiohttp

from bot.markets.base import ExchangeError


class ExchangeApiError(ExchangeError):
    """A 4xx answer other than 429/418 (or an error in a venue's HTTP 200 envelope), with
    the venue's error code and message if any."""

    def __init__(self, url: str, status: int, code: int | None, msg: str) -> None:
        self.url = url
        self.status = status
        self.code = code
        self.msg = msg
        super().__init__(f"{url}: HTTP {status} (code {code}): {msg}")


def failure_summary(failures: Counter[str]) -> str:
    return ", ".join(f"{cause} ×{n}" for cause, n in failures.most_common()) or "failures"


def utc_clock(epoch_s: float) -> str:
    return time.strftime("%H:%M:%S UTC", time.gmtime(epoch_s))


def parse_retry_after(raw: str | None) -> float | None:
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        return None
    return value if math.isfinite(value) and value >= 0 else None


def error_body(body: bytes) -> tuple[int | None, str]:
    try:
        data = json.loads(body)
    except ValueError:
        return None, body[:200].decode("utf-8", "replace").strip() or "no body"
    if isinstance(data, dict):
        code = data.get("code")
        return (code if isinstance(code, int) else None), str(data.get("msg", ""))
    return None, str(data)[:200]


def describe_client_error(exc: aiohttp.ClientError) -> str:
    """A short reason: 'Connection refused' beats aiohttp's full repr in a log line."""
    if isinstance(exc, aiohttp.ClientConnectorError):
        os_error = exc.os_error
        if os_error.errno and not isinstance(os_error, socket.gaierror):
            # asyncio words refusals as "Connect call failed (...)"; the errno says it better.
            return os.strerror(os_error.errno)
        return os_error.strerror or str(os_error) or type(os_error).__name__
    return str(exc) or type(exc).__name__
