"""No SSRF: the address rules, the URL rules, and the check at connect time (a name that
resolves to a private address through a resolver the test controls is refused before
any connection, so DNS rebinding after /webhook add fails too)."""

from __future__ import annotations

import ipaddress
import socket

import pytest
from aiohttp.abc import AbstractResolver, ResolveResult

from bot.config import DestinationSettings
from bot.destinations.safe_http import (
    GuardedResolver,
    SafeHttp,
    TargetRefused,
    address_problem,
    check_resolves_public,
    checked_url,
)
from fakes.fake_receivers import SignedReceiver


class MapResolver(AbstractResolver):
    """Resolves the names it was given, and nothing else; counts lookups."""

    def __init__(self, names: dict[str, str]) -> None:
        self.names = names
        self.lookups: list[str] = []

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.lookups.append(host)
        if host not in self.names:
            raise OSError(f"no such host {host}")
        ip = self.names[host]
        fam = socket.AF_INET6 if ":" in ip else socket.AF_INET
        return [ResolveResult(hostname=host, host=ip, port=port, family=fam, proto=0, flags=0)]

    async def close(self) -> None:
        pass


@pytest.mark.parametrize(
    "ip",
    [
        "127.0.0.1",
        "127.8.9.10",
        "10.1.2.3",
        "172.16.0.1",
        "172.31.255.255",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "224.0.0.1",
        "0.0.0.0",
        "255.255.255.255",
        "::1",
        "::",
        "fc00::1",
        "fd12:3456::1",
        "fe80::1",
        "::ffff:127.0.0.1",
        "::ffff:169.254.169.254",
        "64:ff9b::a00:1",
        "2002:a00:1::1",
        "ff02::1",
    ],
)
def test_non_public_addresses_are_refused(ip: str) -> None:
    assert address_problem(ipaddress.ip_address(ip)) is not None


@pytest.mark.parametrize("ip", ["1.1.1.1", "162.159.128.233", "2606:4700::1111"])
def test_public_addresses_pass(ip: str) -> None:
    assert address_problem(ipaddress.ip_address(ip)) is None


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("http://example.com/hook", "only https"),
        ("ftp://example.com/hook", "only https"),
        ("https://127.0.0.1/hook", "loopback"),
        ("https://10.0.0.8:8443/hook", "private"),
        ("https://169.254.169.254/latest/meta-data/", "link-local"),
        ("https://[::1]/hook", "loopback"),
        ("https://[::ffff:10.0.0.1]/hook", "private"),
        ("https://localhost/hook", "loopback"),
        ("https://user:pw@example.com/hook", "user:password"),
        ("https:///hook", "no host"),
    ],
)
def test_urls_refused_before_any_lookup(url: str, words: str) -> None:
    with pytest.raises(TargetRefused) as caught:
        checked_url(url, allow_private=False)
    assert words in caught.value.reason


def test_allow_private_lets_loopback_http_through() -> None:
    assert checked_url("http://127.0.0.1:8080/hook", allow_private=True).port == 8080


async def test_a_name_resolving_to_a_private_address_is_refused() -> None:
    resolver = GuardedResolver(MapResolver({"evil.test": "10.9.8.7", "ok.test": "1.1.1.1"}))
    target = checked_url("https://evil.test/hook", allow_private=False)
    with pytest.raises(TargetRefused) as caught:
        await check_resolves_public(target, resolver)
    assert caught.value.reason == "evil.test is a private address (10.9.8.7), not a public one"
    await check_resolves_public(checked_url("https://ok.test/h", False), resolver)


async def test_rebinding_is_caught_at_connect_time() -> None:
    """Public when added, private when the POST connects: aiohttp only connects to what
    the guarded resolver returns, so the POST never reaches the loopback receiver."""
    names = MapResolver({"rebind.test": "1.1.1.1"})
    guard = GuardedResolver(names)
    await check_resolves_public(checked_url("https://rebind.test/hook", False), guard)
    names.names["rebind.test"] = "127.0.0.1"  # the attacker's DNS answer changes
    http = SafeHttp(DestinationSettings(timeout_seconds=5), names)
    async with SignedReceiver() as receiver:
        with pytest.raises(TargetRefused) as caught:
            await http.post(f"https://rebind.test:{receiver.port}/hook", b"{}", {})
        assert "loopback" in caught.value.reason
        assert receiver.requests == []
    await http.close()
    assert names.lookups == ["rebind.test", "rebind.test"]


async def test_redirects_are_not_followed_and_answers_are_capped() -> None:
    from aiohttp import web

    hits: list[str] = []

    async def redirect(request: web.Request) -> web.Response:
        hits.append(request.path)
        if request.path == "/hook":
            raise web.HTTPFound("/elsewhere")
        return web.Response(body=b"x" * 10_000_000)

    app = web.Application()
    app.router.add_post("/hook", redirect)
    app.router.add_post("/big", redirect)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    http = SafeHttp(DestinationSettings(allow_private_targets=True, max_response_bytes=4096))
    try:
        answer = await http.post(f"http://127.0.0.1:{port}/hook", b"{}", {})
        assert answer.status == 302 and hits == ["/hook"]
        answer = await http.post(f"http://127.0.0.1:{port}/big", b"{}", {})
        assert answer.status == 200 and len(answer.body) <= 4096
    finally:
        await http.close()
        await runner.cleanup()
