"""The web edges found from outside (issue 17, section 4), each answered as a user or a
proxy would meet it: real server, real scored market, plain HTTP requests. What only
a browser shows (layout, bidi rendering) is in test_browser.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.web.pages import shown
from bot.web.responses import accepts_gzip
from tests.web.helpers import (
    BIDI_SYMBOL,
    BRACES_SYMBOL,
    LONG_SYMBOL,
    scored_market,
    serve,
)

TOKEN = "edge-test-token-0123456789"
SECURITY_HEADERS = ("Content-Security-Policy", "X-Content-Type-Options", "X-Frame-Options")


def quoted(name: str) -> str:
    return aiohttp.helpers.quote(name, safe="")


@pytest.fixture
async def url(tmp_path: Path):  # type: ignore[no-untyped-def]
    async with (
        scored_market(tmp_path, cycles=1, n=2, awkward=True) as market,
        serve(market.settings, market.sessions) as base,
    ):
        yield base


async def test_a_limit_of_5000_digits_is_a_400_not_a_traceback(url: str) -> None:
    async with aiohttp.ClientSession() as http:
        for limit in ("9" * 5000, "1" + "0" * 4300, "10001", "-1", "1e3", "٣"):
            async with http.get(f"{url}/api/v1/top", params={"limit": limit}) as r:
                assert r.status == 400, limit
                assert "limit must be a whole number" in (await r.json())["error"]
        async with http.get(f"{url}/api/v1/top?limit=00002") as r:
            assert r.status == 200 and len((await r.json())["rows"]) == 2


async def test_a_symbol_page_for_an_unknown_symbol_is_a_404(url: str) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{url}/symbol/NOPEUSDT") as r:
            page = await r.text()
            assert r.status == 404 and r.content_type == "text/html"
            assert "NOPEUSDT" in page and "No score is stored" in page
            assert all(h in r.headers for h in SECURITY_HEADERS)
        async with http.get(f"{url}/symbol/{'X' * 5000}") as r:
            assert r.status == 404 and "X" * 61 not in await r.text()
        async with http.get(f"{url}/symbol/LSQZUSDT?exchange=kraken") as r:
            assert r.status == 400 and "kraken" in await r.text()
        # What the address bar takes, as Telegram's /symbol does: btc, $btc, btcusdt.
        async with http.get(f"{url}/symbol/lsqz") as r:
            assert r.status == 200 and 'data-symbol="LSQZUSDT"' in await r.text()


async def test_names_with_braces_and_200_characters_have_their_pages(url: str) -> None:
    async with aiohttp.ClientSession() as http:
        for name in (BRACES_SYMBOL, LONG_SYMBOL, BIDI_SYMBOL):
            async with http.get(f"{url}/symbol/{quoted(name)}") as r:
                assert r.status == 200, name
            async with http.get(f"{url}/api/v1/symbol/{quoted(name)}") as r:
                assert r.status == 200, name
                assert (await r.json())["symbol"] == name  # the API keeps the name exact


async def test_bidi_controls_never_reach_the_text_a_page_displays(url: str) -> None:
    assert shown(BIDI_SYMBOL) == "EVIL\ufffdTDSUUSDT"
    for control in "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069":
        assert shown(f"A{control}B") == "A\ufffdB"
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{url}/symbol/{quoted(BIDI_SYMBOL)}") as r,
    ):
        page = await r.text()
    # Only in the data attribute the script reads the name from (and links with).
    assert page.count("\u202e") == 1 and f'data-symbol="{BIDI_SYMBOL}"' in page
    assert f"<title>{shown(BIDI_SYMBOL)} · pressurebot</title>" in page


async def test_every_answer_carries_the_security_headers(url: str) -> None:
    async with aiohttp.ClientSession() as http:
        for method, path, status in (
            ("GET", "/healthz", 200),
            ("GET", "/metrics", 200),
            ("GET", "/no/such/page", 404),
            ("GET", "/static/nope.js", 404),
            ("POST", "/api/v1/top", 405),
            ("GET", "/api/v1/top?limit=0", 400),
        ):
            async with http.request(method, url + path) as r:
                assert r.status == status, path
                for header in SECURITY_HEADERS:
                    assert header in r.headers, (path, header)
                assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]


async def _get(http: aiohttp.ClientSession, url: str, **headers: str) -> tuple[int, Any]:
    async with http.get(url, headers=headers, auto_decompress=False) as r:
        return r.status, r.headers


@pytest.mark.parametrize("path", ["/api/v1/top", "/static/common.js"])
async def test_if_none_match_with_a_weak_tag_or_a_list_answers_304(url: str, path: str) -> None:
    async with aiohttp.ClientSession() as http:
        status, headers = await _get(http, url + path)
        etag = headers["ETag"]
        assert status == 200 and etag.startswith('"')
        for given in (etag, f"W/{etag}", f'"other", {etag}', f'W/"x", W/{etag}', "*"):
            status, headers = await _get(http, url + path, **{"If-None-Match": given})
            assert status == 304, given
            assert headers["ETag"] == etag
        for given in ('"other"', 'W/"other", "else"', etag.strip('"')):
            status, _ = await _get(http, url + path, **{"If-None-Match": given})
            assert status == 200, given


@pytest.mark.parametrize("path", ["/api/v1/top", "/static/common.js"])
async def test_accept_encoding_weights_decide_gzip(url: str, path: str) -> None:
    async with aiohttp.ClientSession() as http:
        for given, gzipped in (
            ("gzip", True),
            ("gzip;q=0", False),
            ("gzip; q=0.000", False),
            ("GZIP;Q=0.5", True),
            ("br, gzip;q=0", False),
            ("identity", False),
            ("*", True),
            ("*;q=0", False),
            ("gzip;q=0, *", False),
            ("deflate, *;q=0.1", True),
            ("", False),
        ):
            _, headers = await _get(http, url + path, **{"Accept-Encoding": given})
            assert (headers.get("Content-Encoding") == "gzip") is gzipped, given
            assert headers["Vary"] == "Accept-Encoding"


def test_accept_encoding_parsing_reads_malformed_weights_as_refusals() -> None:
    assert not accepts_gzip("gzip;q=high")
    assert accepts_gzip("x-gzip")
    assert not accepts_gzip(",,;")


async def _login_cookie(url: str, **headers: str) -> str:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{url}/?token={TOKEN}", headers=headers, allow_redirects=False) as r,
    ):
        assert r.status == 303
        return r.headers["Set-Cookie"]


@pytest.mark.parametrize(
    ("trusted", "secure"),
    [(["127.0.0.1"], True), (["127.0.0.0/8", "::1"], True), (["10.0.0.0/8"], False), ([], False)],
)
async def test_the_cookie_is_secure_behind_a_trusted_tls_proxy(
    tmp_path: Path, trusted: list[str], secure: bool
) -> None:
    http = {"trusted_proxies": trusted}
    async with (
        scored_market(tmp_path, cycles=1, n=1, token=TOKEN, http=http) as market,
        serve(market.settings, market.sessions) as url,
    ):
        cookie = await _login_cookie(url, **{"X-Forwarded-Proto": "https"})
        assert ("Secure" in cookie) is secure
        # Without the header, or with a proxy saying plain http, never Secure.
        assert "Secure" not in await _login_cookie(url)
        assert "Secure" not in await _login_cookie(url, **{"X-Forwarded-Proto": "http"})


def test_trusted_proxies_is_a_config_key_with_readable_errors(tmp_path: Path) -> None:
    from bot.config import ConfigError, load_settings

    env = {"PRESSUREBOT_HTTP__TRUSTED_PROXIES": '["127.0.0.1", "10.0.0.0/8"]'}
    nets = load_settings(None, env=env).http.trusted_proxies
    assert [str(n) for n in nets] == ["127.0.0.1/32", "10.0.0.0/8"]
    config = tmp_path / "c.toml"
    config.write_text('[http]\ntrusted_proxies = ["nginx.local"]\n')
    with pytest.raises(ConfigError) as err:
        load_settings(config, env={})
    assert str(err.value).startswith("invalid config: http.trusted_proxies")
