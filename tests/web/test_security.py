"""Safe by default: the token guards every dashboard route and nothing else, every
answer carries a strict Content-Security-Policy, and outside text is always escaped."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import aiohttp
import pytest

from tests.web.helpers import XSS_SYMBOL, scored_market, serve

TOKEN = "s3cret-dashboard-token"
DASHBOARD = [
    "/",
    "/symbol/LSQZUSDT",
    "/rules",
    "/static/dashboard.js",
    "/static/style.css",
    "/static/vendor/uplot/uPlot.iife.min.js",
    "/api/v1/latest",
    "/api/v1/top",
    "/api/v1/symbol/LSQZUSDT",
    "/api/v1/openapi.json",
]


@pytest.fixture
async def guarded_url(tmp_path: Path):  # type: ignore[no-untyped-def]
    async with (
        scored_market(tmp_path, cycles=1, token=TOKEN, n=4) as market,
        serve(market.settings, market.sessions) as url,
    ):
        yield url


async def test_without_the_token_every_dashboard_route_is_401_and_serves_nothing(
    guarded_url: str,
) -> None:
    async with aiohttp.ClientSession() as http:
        for path in DASHBOARD:
            for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
                async with http.get(guarded_url + path, headers=headers) as r:
                    body = await r.text()
                    assert r.status == 401, (path, headers)
                    assert "USDT" not in body and "<" not in body
                    assert r.headers["Content-Security-Policy"].startswith("default-src 'self'")
            async with http.get(guarded_url + path + "?token=wrong") as r:
                assert r.status == 401 and "Set-Cookie" not in r.headers
        # A monitor and Prometheus never need it.
        async with http.get(guarded_url + "/healthz") as r:
            assert r.status == 200
        async with http.get(guarded_url + "/metrics") as r:
            assert r.status == 200 and "pressurebot_" in await r.text()


async def test_a_bearer_header_opens_the_api(guarded_url: str) -> None:
    async with aiohttp.ClientSession() as http:
        auth = {"Authorization": f"Bearer {TOKEN}"}
        for path in DASHBOARD:
            async with http.get(guarded_url + path, headers=auth) as r:
                assert r.status == 200, path


async def test_token_in_the_url_once_sets_a_strict_httponly_cookie(guarded_url: str) -> None:
    # unsafe=True: aiohttp's jar otherwise keeps no cookie for an IP address host.
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.get(f"{guarded_url}/?token={TOKEN}", allow_redirects=False) as r:
            assert r.status == 303
            # Redirected to the same page without the token in the address bar (relative,
            # so it works behind a proxy's sub-path too).
            assert r.headers["Location"] == "./"
            cookie = r.headers["Set-Cookie"]
            assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
            assert TOKEN not in cookie
        async with http.get(
            f"{guarded_url}/symbol/SSQZ?range=30d&token={TOKEN}", allow_redirects=False
        ) as r:
            assert r.headers["Location"] == "SSQZ?range=30d"
        # The session keeps the cookie: the page and the API now answer.
        async with http.get(f"{guarded_url}/") as r:
            assert r.status == 200 and "<table" in await r.text()
        async with http.get(f"{guarded_url}/api/v1/top") as r:
            assert r.status == 200 and (await r.json())["rows"]


class _Tags(HTMLParser):
    def __init__(self, html: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def _no_inline_code(html: str) -> None:
    """What a browser would parse: no inline script, style or handler, nothing foreign."""
    for tag, attrs in _Tags(html).tags:
        assert tag not in ("style", "img", "svg", "iframe", "object"), tag
        assert tag != "script" or attrs.get("src"), "inline script"
        assert "style" not in attrs, f"inline style on <{tag}>"
        assert not [a for a in attrs if a.startswith("on")], f"event handler on <{tag}>"
        for name in ("src", "href"):
            assert not (attrs.get(name) or "").startswith(("http:", "https:", "//")), attrs


async def test_headers_and_pages_allow_no_inline_code_and_no_framing(tmp_path: Path) -> None:
    async with (
        scored_market(tmp_path, cycles=1, n=4) as market,
        serve(market.settings, market.sessions) as url,
        aiohttp.ClientSession() as http,
    ):
        for path in DASHBOARD:
            async with http.get(url + path) as r:
                assert r.status == 200, path
                csp = r.headers["Content-Security-Policy"]
                assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
                assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
                assert r.headers["X-Content-Type-Options"] == "nosniff"
                assert r.headers["Referrer-Policy"] == "no-referrer"
                if r.content_type == "text/html":
                    _no_inline_code(await r.text())
        # Read-only: nothing but GET (and HEAD) is routed.
        async with http.post(url + "/api/v1/top") as r:
            assert r.status == 405


async def test_a_hostile_symbol_in_the_url_is_escaped_on_the_page(tmp_path: Path) -> None:
    async with (
        scored_market(tmp_path, cycles=1, n=2) as market,
        serve(market.settings, market.sessions) as url,
        aiohttp.ClientSession() as http,
    ):
        for name in ("<script>alert(1)</script>", XSS_SYMBOL, '"><svg onload=alert(1)>'):
            quoted = aiohttp.helpers.quote(name, safe="")
            async with http.get(f"{url}/symbol/{quoted}") as r:
                html = await r.text()
            # The scored one has its page; the others get the 404 page, which repeats
            # the name (as text).
            assert r.status == (200 if name == XSS_SYMBOL else 404)
            assert name not in html
            assert "&lt;" in html
            _no_inline_code(html)


def test_a_short_token_is_a_config_error_that_does_not_echo_it(tmp_path: Path) -> None:
    from bot.config import ConfigError, load_settings

    config = tmp_path / "c.toml"
    config.write_text('[http]\ndashboard_token = "hunter2"\n')
    with pytest.raises(ConfigError) as err:
        load_settings(config, env={})
    message = str(err.value)
    assert message.startswith("invalid config: http.dashboard_token: ") and "16" in message
    assert "hunter2" not in message
    env = {"PRESSUREBOT_HTTP__DASHBOARD_TOKEN": TOKEN}
    token = load_settings(None, env=env).http.dashboard_token
    assert token is not None and token.get_secret_value() == TOKEN
