"""Answers built once and served many times: bytes with their gzip form and an ETag,
sent as 304 when the client already has them and gzipped when it accepts gzip.

The two request headers are parsed as RFC 9110 says, not by substring: If-None-Match
may list several tags and weak ones (`W/"x"`, compared weakly, as the RFC asks for
If-None-Match), and Accept-Encoding carries quality values (`gzip;q=0` refuses gzip).
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass

from aiohttp import hdrs, web
from aiohttp.helpers import ETAG_ANY


@dataclass(frozen=True, slots=True)
class Body:
    """One serialised response: the bytes, their gzip form, and an ETag (quoted)."""

    raw: bytes
    gz: bytes
    etag: str


def body_of(raw: bytes, tag: str) -> Body:
    return Body(raw, gzip.compress(raw, compresslevel=5), f'"{tag}"')


def not_modified(request: web.Request, etag: str) -> bool:
    """If-None-Match names this tag (strong or weak, alone or in a list) or is `*`."""
    given = request.if_none_match
    if not given:
        return False
    bare = etag.strip('"')
    return any(tag.value in (bare, ETAG_ANY) for tag in given)


def _quality(params: list[str]) -> float:
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "q":
            try:
                return float(value.strip())
            except ValueError:
                return 0.0  # a malformed weight is no consent
    return 1.0


def accepts_gzip(header: str) -> bool:
    """Whether an Accept-Encoding header accepts gzip: listed (or `x-gzip`) with a
    non-zero weight, or covered by `*` with one and not listed at all."""
    listed: dict[str, float] = {}
    for item in header.split(","):
        coding, *params = item.split(";")
        coding = coding.strip().lower()
        if coding:
            listed[coding] = _quality(params)
    for name in ("gzip", "x-gzip"):
        if name in listed:
            return listed[name] > 0
    return listed.get("*", 0.0) > 0


def send(
    request: web.Request, body: Body, content_type: str, charset: str | None = None
) -> web.Response:
    """`body` as the answer, or a 304; gzipped when the client accepts it."""
    headers = {hdrs.ETAG: body.etag, hdrs.CACHE_CONTROL: "no-cache", hdrs.VARY: "Accept-Encoding"}
    if not_modified(request, body.etag):
        return web.Response(status=304, headers=headers)
    gzipped = accepts_gzip(request.headers.get(hdrs.ACCEPT_ENCODING, ""))
    if gzipped:
        headers[hdrs.CONTENT_ENCODING] = "gzip"
    return web.Response(
        body=body.gz if gzipped else body.raw,
        headers=headers,
        content_type=content_type,
        charset=charset,
    )
