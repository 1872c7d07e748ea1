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

from bot.web.data import MAX_SYMBOL_CHARS, RANGES, DashboardData, candidates, encode
from bot.web.openapi import openapi_document
from bot.web.responses import Body, send

MAX_LIMIT = 10_000


def json_error(status: int, message: str) -> web.Response:
    return web.Response(
        status=status,
        text=json.dumps({"error": message}),
        content_type="application/json",
        headers={"Cache-Control": "no-store"},
    )


def _json(doc: Any) -> web.Response:
    return web.Response(
        text=json.dumps(doc), content_type="application/json", headers={"Cache-Control": "no-store"}
    )


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
            limit = whole_number(raw_limit, MAX_LIMIT)
            if limit is None:
                return json_error(400, f"limit must be a whole number from 1 to {MAX_LIMIT}")
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
        return _send(request, body)

    async def symbol(self, request: web.Request) -> web.Response:
        range_key = request.query.get("range", "72h")
        if range_key not in RANGES:
            return json_error(400, f"range must be one of {', '.join(RANGES)}")
        typed = request.match_info["symbol"]
        if not typed or len(typed) > MAX_SYMBOL_CHARS:
            return json_error(404, "unknown symbol")
        exchange = self._exchange(request)
        if isinstance(exchange, web.Response):
            return exchange
        for name in candidates(typed, self.data.settings.exchange.quote_assets):
            body = await self.data.symbol(name, range_key, exchange)
            if body is not None:
                return _send(request, body)
        return json_error(404, f"no score stored for {typed}")

    def _exchange(self, request: web.Request) -> str | web.Response:
        """`?exchange=`: an enabled venue, or "all" (the aggregate) with several; else
        the default view. A 400 response for anything else."""
        exchange = self.data.view(request.query.get("exchange"))
        if exchange is None:
            return json_error(400, f"exchange must be one of {self.data.views_text()}")
        return exchange

    async def openapi(self, request: web.Request) -> web.Response:
        return _send(request, self._openapi)


def whole_number(raw: str, most: int) -> int | None:
    """`raw` as an int from 1 to `most`, else None. The length is checked before int():
    Python refuses to convert more than 4300 digits (a ValueError, not a 400)."""
    if not (raw.isascii() and raw.isdigit()) or len(raw) > len(str(most)):
        return None
    value = int(raw)
    return value if 1 <= value <= most else None


def _send(request: web.Request, body: Body) -> web.Response:
    return send(request, body, "application/json")
