"""The dashboard's guard: the optional access token and the headers every answer carries.

Applied per route (a wrapper, not an app middleware), so /healthz and /metrics, which
share the server, are never behind the token: a monitor or Prometheus keeps working.

- `[http] dashboard_token` unset: open (the server binds 127.0.0.1 unless configured).
- Set: `Authorization: Bearer <token>` (API clients), or the cookie a browser got by
  opening any page once with `?token=<token>` (redirected to the same URL without it,
  so the token does not stay in the address bar or history). Anything else: 401 and no
  content. Comparisons are constant-time (hmac.compare_digest).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable
from typing import TypeVar
from urllib.parse import quote, urlencode

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

COOKIE = "pressurebot_dashboard"
# No inline script or style anywhere, nothing from another origin, never in a frame.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Resource-Policy": "same-origin",
}


def cookie_value(token: str) -> str:
    """What the cookie holds: a digest of the token, so the cookie is not the token
    itself (it cannot be replayed as a Bearer header by whoever reads it)."""
    return hmac.new(token.encode(), b"pressurebot dashboard cookie", hashlib.sha256).hexdigest()


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


def authorized(request: web.Request, token: str) -> bool:
    header = request.headers.get("Authorization", "")
    scheme, _, given = header.partition(" ")
    if scheme.lower() == "bearer" and _same(given.strip(), token):
        return True
    cookie = request.cookies.get(COOKIE)
    return cookie is not None and _same(cookie, cookie_value(token))


R = TypeVar("R", bound=web.StreamResponse)


def secure_headers(response: R) -> R:
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def unauthorized() -> web.Response:
    return secure_headers(
        web.Response(
            status=401,
            text="401: this dashboard needs its access token\n",
            headers={"WWW-Authenticate": 'Bearer realm="pressurebot"', "Cache-Control": "no-store"},
        )
    )


def _login(request: web.Request, token: str, given: str) -> web.StreamResponse:
    """`?token=`: a right one sets the cookie and redirects to the same URL without it."""
    if not _same(given, token):
        return unauthorized()
    query = request.rel_url.query.copy()
    query.popall("token", None)
    # Relative ("./", "ABCUSDT"), so it also lands right behind a proxy's sub-path.
    # Quoted whole, so a segment such as "x:y" cannot read as a URL scheme.
    target = quote(request.rel_url.path.rsplit("/", 1)[-1], safe="") or "./"
    if query:
        target += "?" + urlencode(list(query.items()))
    response = web.Response(status=303, headers={"Location": target})
    response.set_cookie(
        COOKIE,
        cookie_value(token),
        httponly=True,
        samesite="Strict",
        secure=request.secure,
        path="/",
    )
    return secure_headers(response)


def guarded(handler: Handler, token: str | None) -> Handler:
    """`handler` behind the token (when one is set), with the security headers added."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        if token:
            given = request.rel_url.query.get("token")
            if given is not None:
                return _login(request, token, given)
            if not authorized(request, token):
                return unauthorized()
        return secure_headers(await handler(request))

    return wrapped
