"""The dashboard's guard: the optional access token and the headers every answer carries.

Applied per route (a wrapper, not an app middleware), so /healthz and /metrics, which
share the server, are never behind the token: a monitor or Prometheus keeps working.

- `[http] dashboard_token` unset: open (the server binds 127.0.0.1 unless configured).
- Set: `Authorization: Bearer <token>` (API clients), or the cookie a browser got by
  opening any page once with `?token=<token>` (redirected to the same URL without it,
  so the token does not stay in the address bar or history). Anything else: 401 and no
  content. Comparisons are constant-time (hmac.compare_digest).

The security headers go on every answer of the server, the framework's own 404 and 405
and /healthz and /metrics included: `add_security_headers` is an `on_response_prepare`
signal (bot/web/health_server.py installs it), not a per-route wrapper that only sees our routes.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Awaitable, Callable, Sequence
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


async def add_security_headers(request: web.BaseRequest, response: web.StreamResponse) -> None:
    """The `on_response_prepare` signal: every answer, whoever made it, gets the headers
    (a handler that set its own keeps it)."""
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)


def install_security_headers(app: web.Application) -> None:
    if add_security_headers not in app.on_response_prepare:
        app.on_response_prepare.append(add_security_headers)


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def behind_tls(request: web.BaseRequest, trusted: Sequence[Network]) -> bool:
    """Whether the browser reached us over HTTPS: directly, or through a trusted proxy
    that terminated TLS and says so in X-Forwarded-Proto. The header is believed from
    the configured proxies only; from anyone else it is a claim anybody can make. A
    chain of proxies appends: the last value is the one our own proxy set."""
    if request.secure:
        return True
    if not trusted or request.remote is None:
        return False
    try:
        peer = ipaddress.ip_address(request.remote)
    except ValueError:  # a Unix socket's peer has no address
        return False
    if not any(peer in net for net in trusted):
        return False
    proto = request.headers.get("X-Forwarded-Proto", "").rsplit(",", 1)[-1]
    return proto.strip().lower() == "https"


def unauthorized() -> web.Response:
    return web.Response(
        status=401,
        text="401: this dashboard needs its access token\n",
        headers={"WWW-Authenticate": 'Bearer realm="pressurebot"', "Cache-Control": "no-store"},
    )


def _login(
    request: web.Request, token: str, given: str, trusted: Sequence[Network]
) -> web.StreamResponse:
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
        secure=behind_tls(request, trusted),
        path="/",
    )
    return response


def guarded(handler: Handler, token: str | None, trusted: Sequence[Network] = ()) -> Handler:
    """`handler` behind the token, when one is set. `trusted`: `[http] trusted_proxies`."""
    if not token:
        return handler

    async def wrapped(request: web.Request) -> web.StreamResponse:
        given = request.rel_url.query.get("token")
        if given is not None:
            return _login(request, token, given, trusted)
        if not authorized(request, token):
            return unauthorized()
        return await handler(request)

    return wrapped
