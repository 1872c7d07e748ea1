"""The only way out to a URL a user typed: no way into our own network (SSRF).

- https only (plain http only with `destinations.allow_private_targets`, for tests and
  a receiver on the operator's own network);
- every address the host resolves to must be public: loopback, private (10/8,
  172.16/12, 192.168/16), link-local (169.254/16: cloud metadata), CGNAT (100.64/10),
  multicast, reserved, unspecified, ::1, fc00::/7, fe80::/10 and IPv4-mapped or NAT64
  forms of those are refused;
- the check runs on the addresses aiohttp is about to connect to (`GuardedResolver`
  wraps its resolver), not on an earlier lookup, so a name that re-binds to a private
  address after /webhook add was checked fails at connect time. An IP literal skips
  the resolver, so `checked_url` refuses a private literal before any request;
- timeouts on connect and the whole request, the answer read up to a size cap, and
  redirects never followed (a 3xx is an answer, not a hop).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from bot.config import DestinationSettings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_CGNAT = ipaddress.ip_network("100.64.0.0/10")


class TargetRefused(Exception):
    """A URL or address we will not connect to; `reason` is safe to show the user."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def address_problem(ip: IPAddress) -> str | None:
    """Why a connection to `ip` is refused, or None for a public address."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            return address_problem(embedded)
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local (cloud metadata)"
    if ip.is_multicast:
        return "multicast"
    if ip.is_unspecified:
        return "unspecified"
    if isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT:
        return "carrier-grade NAT"
    if ip.is_private or ip.is_reserved or not ip.is_global:
        return "private"
    return None


def _refuse(host: str, ip: IPAddress) -> None:
    problem = address_problem(ip)
    if problem is not None:
        raise TargetRefused(f"{host} is a {problem} address ({ip}), not a public one")


@dataclass(frozen=True, slots=True)
class Target:
    url: str
    host: str
    port: int


def checked_url(url: str, allow_private: bool) -> Target:
    """The URL's parts once its form is acceptable; a literal IP is checked here."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise TargetRefused("not a valid URL") from exc
    schemes = ("https", "http") if allow_private else ("https",)
    if parts.scheme.lower() not in schemes:
        raise TargetRefused("only https:// URLs are accepted")
    host = parts.hostname or ""
    if not host:
        raise TargetRefused("the URL has no host")
    if parts.username or parts.password:
        raise TargetRefused("user:password@ in the URL is not accepted")
    default = 443 if parts.scheme.lower() == "https" else 80
    if not allow_private:
        try:
            literal = ipaddress.ip_address(host)
        except ValueError:
            literal = None
        if literal is not None:
            _refuse(host, literal)
        elif host.lower() == "localhost" or host.lower().endswith(".localhost"):
            raise TargetRefused(f"{host} is a loopback name")
    return Target(url.strip(), host, port or default)


class GuardedResolver(AbstractResolver):
    """Resolves like `inner`, then refuses the whole name if any address is not public:
    aiohttp connects only to what this returns, so the check holds at connect time."""

    def __init__(self, inner: AbstractResolver | None = None, allow_private: bool = False) -> None:
        self._inner = inner if inner is not None else aiohttp.ThreadedResolver()
        self._allow_private = allow_private

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self._inner.resolve(host, port, family)
        if not self._allow_private:
            for entry in found:
                _refuse(host, ipaddress.ip_address(entry["host"].split("%")[0]))
        return found

    async def close(self) -> None:
        await self._inner.close()


async def check_resolves_public(target: Target, resolver: AbstractResolver) -> None:
    """At /webhook add: refuse now with a clear reason rather than at the first alert."""
    try:
        await resolver.resolve(target.host, target.port, socket.AF_UNSPEC)
    except TargetRefused:
        raise
    except (OSError, UnicodeError) as exc:  # no such name, or one IDNA cannot encode
        raise TargetRefused(f"{target.host} does not resolve") from exc


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes  # at most `max_response_bytes`


class SafeHttp:
    """One aiohttp session for every destination POST, behind the guards above."""

    def __init__(
        self, settings: DestinationSettings, resolver: AbstractResolver | None = None
    ) -> None:
        self._settings = settings
        self.resolver = GuardedResolver(resolver, settings.allow_private_targets)
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            timeout = self._settings.timeout_seconds
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(resolver=self.resolver, limit=64),
                timeout=aiohttp.ClientTimeout(total=timeout, sock_connect=timeout),
                trust_env=False,  # never through a proxy from the environment
            )
        return self._session

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> Answer:
        """One POST; raises TargetRefused, aiohttp.ClientError or TimeoutError."""
        target = checked_url(url, self._settings.allow_private_targets)
        cap = self._settings.max_response_bytes
        async with self._client().post(
            target.url, data=body, headers=headers, allow_redirects=False
        ) as resp:
            data = b""
            while len(data) < cap and (chunk := await resp.content.read(cap - len(data))):
                data += chunk
            return Answer(resp.status, {k.lower(): v for k, v in resp.headers.items()}, data)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            await asyncio.sleep(0)  # let the connector close its transports
