"""Loopback receivers for destinations: a Discord-shaped webhook and a generic signed
HTTPS-style webhook (plain http on 127.0.0.1: tests turn on
`destinations.allow_private_targets`, which is what allows both loopback and http).

They fail like the real services: Discord's 429 body and rate-limit headers, its 404
`Unknown Webhook`; 503s during an outage; 410 Gone from the generic receiver. Faults
are counted in requests, not seconds (`fail_next`), and each request sets an event,
so tests wait on what happened, never on a clock.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

DISCORD_429 = {"message": "You are being rate limited.", "retry_after": 0.5, "global": False}
DISCORD_404 = {"message": "Unknown Webhook", "code": 10015}


@dataclass
class Received:
    body: bytes
    headers: dict[str, str]
    status: int  # what the receiver answered

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class _Fault:
    count: int
    status: int
    body: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)


class Receiver:
    """One aiohttp server on a free loopback port; `path` is where it takes POSTs."""

    path = "/hook"

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self._faults: list[_Fault] = []
        self._gone: tuple[int, dict[str, Any]] | None = None
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.port = 0
        # The request with this number (1-based) is read and never answered, until
        # `release`: a post on the wire when the sender is killed.
        self.block_at: int | None = None
        self._release = asyncio.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"

    async def __aenter__(self) -> Receiver:
        app = web.Application()
        app.router.add_post(self.path, self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    def release(self) -> None:
        self._release.set()

    async def __aexit__(self, *exc: object) -> None:
        self.release()
        if self._runner is not None:
            await self._runner.cleanup()

    def fail_next(
        self,
        count: int,
        status: int = 503,
        body: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self._faults.append(_Fault(count, status, body or {}, headers or {}))

    def gone(self, status: int, body: dict[str, Any] | None = None) -> None:
        """Answer every request from now on with `status` (410, 404...)."""
        self._gone = (status, body or {})

    @property
    def accepted(self) -> list[Received]:
        return [r for r in self.requests if 200 <= r.status < 300]

    async def wait_for(self, predicate: Any, timeout: float = 90.0) -> None:
        async def check() -> None:
            async with self._changed:
                await self._changed.wait_for(lambda: predicate(self))

        await asyncio.wait_for(check(), timeout)

    def ok_headers(self) -> dict[str, str]:
        return {}

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        headers = {k: v for k, v in request.headers.items()}
        if self.block_at is not None and len(self.requests) + 1 == self.block_at:
            self.requests.append(Received(body, headers, 0))  # 0: never answered
            async with self._changed:
                self._changed.notify_all()
            await self._release.wait()
            return web.Response(status=503)
        if self._gone is not None:
            status, doc, extra = self._gone[0], self._gone[1], {}
        elif self._faults:
            fault = self._faults[0]
            fault.count -= 1
            if fault.count <= 0:
                self._faults.pop(0)
            status, doc, extra = fault.status, fault.body, fault.headers
        else:
            status, doc, extra = self.ok_status, None, self.ok_headers()
        self.requests.append(Received(body, headers, status))
        async with self._changed:
            self._changed.notify_all()
        if doc is None:
            return web.Response(status=status, headers=extra)
        return web.json_response(doc, status=status, headers=extra)

    ok_status = 200


class DiscordReceiver(Receiver):
    """Discord's execute-webhook endpoint: 204 with the bucket's headers; 429 storms
    carry Discord's real body and headers."""

    path = "/api/webhooks/123456789/secret-token"
    ok_status = 204

    def __init__(self, bucket: int = 5) -> None:
        super().__init__()
        self.bucket = bucket  # posts per window, like Discord's 5 per 2 s
        self._left = bucket

    def ok_headers(self) -> dict[str, str]:
        self._left -= 1
        remaining = self._left
        if self._left <= 0:
            self._left = self.bucket
        return {
            "X-RateLimit-Limit": str(self.bucket),
            "X-RateLimit-Remaining": str(max(0, remaining)),
            "X-RateLimit-Reset-After": "0.05",
            "X-RateLimit-Bucket": "abcd1234",
        }

    def storm(self, count: int, retry_after: float = 0.5) -> None:
        body = dict(DISCORD_429, retry_after=retry_after)
        headers = {
            "Retry-After": str(max(1, round(retry_after))),
            "X-RateLimit-Limit": "5",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset-After": str(retry_after),
            "X-RateLimit-Scope": "user",
        }
        self.fail_next(count, 429, body, headers)

    def alert_symbols(self) -> list[str]:
        """Each embed's symbol, across every accepted message, in order received."""
        out = []
        for r in self.accepted:
            for embed in r.json.get("embeds", []):
                out.append(embed["title"].split()[1])
        return out


class SignedReceiver(Receiver):
    """A generic webhook receiver that checks the signature like docs/alerts.md shows,
    and drops repeats by Idempotency-Key like a careful receiver would."""

    def __init__(self) -> None:
        super().__init__()
        self.secret: str | None = None
        self.bad_signatures = 0

    def verify(self, r: Received) -> bool:
        if self.secret is None:
            return False
        expected = "sha256=" + hmac.new(self.secret.encode(), r.body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, r.headers.get("X-Pressurebot-Signature", ""))

    def unique_alert_ids(self) -> list[int]:
        """Alert ids of accepted posts, one post per Idempotency-Key (repeats dropped)."""
        seen: set[str] = set()
        out: list[int] = []
        for r in self.accepted:
            key = r.headers["Idempotency-Key"]
            if key in seen:
                continue
            seen.add(key)
            out += [a["id"] for a in r.json["alerts"]]
        return out
