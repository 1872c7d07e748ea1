"""The JSON API under /api/v1: what the dashboard's pages fetch, and what other tools may.

Read-only GETs. `/top` is `pressurebot scan --json`'s document for the latest stored
cycle; `/symbol/{SYMBOL}` is one symbol's card (the same row keys) with its chart
series; `/latest` is the few bytes a page polls to learn that a new cycle landed. The
OpenAPI description (bot/web/openapi.py) is served at /api/v1/openapi.json.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from bot.web.data import RANGES, Body, DashboardData, encode
from bot.web.openapi import openapi_document

MAX_LIMIT = 10_000


def json_error(status: int, message: str) -> web.Response:
    return web.Response(
        status=status,
        text=json.dumps({"error": message}),
        content_type="application/json",
        headers={"Cache-Control": "no-store"},
    )


def send(request: web.Request, body: Body) -> web.Response:
    """Cached bytes: 304 when the client has them, gzip when it accepts it."""
    headers = {"ETag": body.etag, "Cache-Control": "no-cache", "Vary": "Accept-Encoding"}
    if request.headers.get("If-None-Match") == body.etag:
        return web.Response(status=304, headers=headers)
    if "gzip" in request.headers.get("Accept-Encoding", ""):
        headers["Content-Encoding"] = "gzip"
        return web.Response(body=body.gz, headers=headers, content_type="application/json")
    return web.Response(body=body.raw, headers=headers, content_type="application/json")


def _json(doc: Any) -> web.Response:
    return web.Response(
        text=json.dumps(doc), content_type="application/json", headers={"Cache-Control": "no-store"}
    )


def candidates(typed: str, quotes: list[str]) -> list[str]:
    """The name as typed first (symbols are case-sensitive in storage), then BTCUSDT in
    capitals; btc also finds BTCUSDT under each quote asset."""
    name = typed.strip().upper().lstrip("$")
    out = [typed, name, *(name + q for q in quotes if not name.endswith(q))]
    return list(dict.fromkeys(out))


class Api:
    def __init__(self, data: DashboardData) -> None:
        self.data = data
        self._openapi = encode(openapi_document(), "openapi-v1")

    async def latest(self, request: web.Request) -> web.Response:
        return _json(await self.data.latest())

    async def top(self, request: web.Request) -> web.Response:
        raw_limit = request.query.get("limit")
        limit = None
        if raw_limit is not None:
            valid = raw_limit.isascii() and raw_limit.isdigit()
            if not (valid and 1 <= int(raw_limit) <= MAX_LIMIT):
                return json_error(400, f"limit must be a whole number from 1 to {MAX_LIMIT}")
            limit = int(raw_limit)
        exchange = self._exchange(request)
        if isinstance(exchange, web.Response):
            return exchange
        if exchange != self.data.exchange:
            body = await self.data.top_of(exchange, limit)
        elif limit is None:
            body = await self.data.top()
        else:
            body = await self.data.top_limited(limit)
        if body is None:
            return json_error(404, "no cycle has been scored yet")
        return send(request, body)

    async def symbol(self, request: web.Request) -> web.Response:
        range_key = request.query.get("range", "72h")
        if range_key not in RANGES:
            return json_error(400, f"range must be one of {', '.join(RANGES)}")
        typed = request.match_info["symbol"]
        if not typed or len(typed) > 40:
            return json_error(404, "unknown symbol")
        exchange = self._exchange(request)
        if isinstance(exchange, web.Response):
            return exchange
        for name in candidates(typed, self.data.settings.exchange.quote_assets):
            body = await self.data.symbol(name, range_key, exchange)
            if body is not None:
                return send(request, body)
        return json_error(404, f"no score stored for {typed}")

    def _exchange(self, request: web.Request) -> str | web.Response:
        """`?exchange=`: an enabled venue, or "all" (the aggregate) with several; else
        the default view. A 400 response for anything else."""
        exchange = request.query.get("exchange", self.data.exchange)
        venues = self.data.settings.exchange.venues
        if exchange not in venues and not (exchange == "all" and len(venues) > 1):
            shown = ", ".join([*venues, "all"] if len(venues) > 1 else venues)
            return json_error(400, f"exchange must be one of {shown}")
        return exchange

    async def openapi(self, request: web.Request) -> web.Response:
        return send(request, self._openapi)
