"""The dashboard in a real browser: headless Chromium (Debian's `chromium`, which
.ci/run installs) driven by Playwright, against a server with real scored data.

With PRESSUREBOT_TEST_SCREENSHOTS=1 the run saves docs/img/dashboard.png and
docs/img/symbol.png, the screenshots the README shows.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest

from tests.web.helpers import XSS_SYMBOL, run_cycles, scored_market, serve

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("PRESSUREBOT_TEST_CHROMIUM") or next(
    (p for p in ("/usr/bin/chromium", shutil.which("chromium") or "") if p and Path(p).exists()),
    None,
)

playwright_api = pytest.importorskip(
    "playwright.async_api", reason="pip package playwright is not installed"
)
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        CHROMIUM is None,
        reason="no chromium binary (apt-get install chromium; .ci/run does it) "
        "or PRESSUREBOT_TEST_CHROMIUM=/path/to/chromium",
    ),
]


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    async with playwright_api.async_playwright() as p:
        b = await p.chromium.launch(executable_path=CHROMIUM)
        try:
            yield b
        finally:
            await b.close()


def _shot(name: str) -> Path | None:
    if os.environ.get("PRESSUREBOT_TEST_SCREENSHOTS") != "1":
        return None
    (ROOT / "docs" / "img").mkdir(parents=True, exist_ok=True)
    return ROOT / "docs" / "img" / name


async def _cells(page: Any, column: int, n: int = 1000) -> list[str]:
    texts: list[str] = await page.locator(
        f"#market tbody tr td:nth-child({column})"
    ).all_inner_texts()
    return texts[:n]


async def test_dashboard_and_symbol_page_in_chromium(tmp_path: Path, browser: Any) -> None:
    async with scored_market(tmp_path, cycles=8) as market:
        market.settings.telegram.latest_cycle_cache_seconds = 0
        await _liquidate(market, "LSQZUSDT", 8_400.0)
        async with serve(market.settings, market.sessions) as url:
            async with aiohttp.ClientSession() as http, http.get(f"{url}/api/v1/top") as r:
                top = await r.json()
            page = await browser.new_page(viewport={"width": 1280, "height": 900})
            dialogs: list[str] = []
            errors: list[str] = []
            page.on("dialog", lambda d: dialogs.append(d.message))
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

            await page.goto(f"{url}/")
            await page.wait_for_selector("#market tbody tr")
            await _check_header_and_rows(page, top)
            await _check_escaping(page)
            await _check_sort(page, top)
            await _check_squeeze_filter(page, top)
            await _check_live_refresh(page, market, top)
            await _check_liquidations(page)
            await page.click("[data-filter=all]")
            await page.click("#market th[data-key=score]")  # back to the ranked view
            await page.locator(".table-wrap").evaluate("e => { e.scrollLeft = 0; }")
            if (path := _shot("dashboard.png")) is not None:
                await page.screenshot(path=str(path), full_page=True)

            await page.click("#market tbody a >> text=LSQZUSDT")
            await page.wait_for_url(f"{url}/symbol/LSQZUSDT")
            await _check_symbol_page(page)
            if (path := _shot("symbol.png")) is not None:
                await page.screenshot(path=str(path), full_page=True)

            # The hostile symbol's own page: its name is text in the title and the card.
            await page.goto(f"{url}/symbol/{quote(XSS_SYMBOL, safe='')}")
            await page.wait_for_selector(".panel svg path.line")
            assert await page.inner_text("#sym") == XSS_SYMBOL
            assert (
                await page.title()
                == f"{XSS_SYMBOL} · {await page.inner_text('#score')} · pressurebot"
            )
            assert await page.locator("main img, main svg image").count() == 0
            assert dialogs == [] and errors == []


async def _check_header_and_rows(page: Any, top: dict[str, Any]) -> None:
    s = top["summary"]
    assert await page.inner_text("#avg") == str(round(s["avg_score"]))
    for key in ("long", "short", "neutral", "symbols"):
        assert await page.inner_text(f"#{key}") == str(s[key])
    first = top["rows"][:5]
    assert await _cells(page, 2, 5) == [r["symbol"] for r in first]
    assert await _cells(page, 3, 5) == [str(r["score"]) for r in first]
    assert await _cells(page, 4, 5) == [r["band"] for r in first]
    assert "old" in await page.inner_text("#age")


async def _liquidate(market: Any, symbol: str, usd: float) -> None:
    """A long liquidation a minute before the latest cycle, as the stream ingest writes it."""
    from bot.liquidations.events import LiqEvent
    from bot.liquidations.ingest import LiqIngest

    now = market.clock.ms()
    ingest = LiqIngest(market.sessions, lambda: 1, wall_ms=lambda: now)
    ingest.clock_for("binance").up(now - 2 * 3_600_000)
    ingest.on_events([LiqEvent("binance", symbol, "long", 1.0, usd, usd, now - 60_000)], 0.0)
    await ingest.flush()


async def _check_liquidations(page: Any) -> None:
    """The Liq filter keeps the one symbol with liquidations; its cells and tooltip."""
    await page.click("[data-filter=liq]")
    assert await _cells(page, 2) == ["LSQZUSDT"]
    assert await _cells(page, 13) == ["$8.4k"]
    assert (await _cells(page, 14))[0].endswith("%")
    title = await page.get_attribute("#market tbody tr td:nth-child(13)", "title")
    # The stream's coverage was written up to the liquidation; the cycle came later.
    assert title is not None and title.startswith("longs $8.4k · shorts $0 · stream live")
    await page.click("[data-filter=all]")
    await page.click("#market th[data-key=liq_1h_oi_pct]")
    assert await _cells(page, 2, 1) == ["LSQZUSDT"]


async def _check_escaping(page: Any) -> None:
    """The hostile symbol shows as text: no element was made from it, nothing ran."""
    assert XSS_SYMBOL in await _cells(page, 2)
    assert await page.locator("#market img").count() == 0


async def _check_sort(page: Any, top: dict[str, Any]) -> None:
    await page.click("#market th[data-key=oi_24h_pct]")
    known = [r for r in top["rows"] if r["oi_24h_pct"] is not None]
    best = max(known, key=lambda r: r["oi_24h_pct"])
    assert (await _cells(page, 2, 1)) == [best["symbol"]]
    await page.click("#market th[data-key=oi_24h_pct]")  # and ascending
    worst = min(known, key=lambda r: r["oi_24h_pct"])
    assert (await _cells(page, 2, 1)) == [worst["symbol"]]
    await page.click("#market th[data-key=symbol]")
    symbols = await _cells(page, 2)
    assert symbols == sorted(symbols)


async def _check_squeeze_filter(page: Any, top: dict[str, Any]) -> None:
    await page.click("[data-filter=squeeze]")
    squeeze = {r["symbol"] for r in top["rows"] if "squeeze" in r["regime"]}
    assert {"LSQZUSDT", "SSQZUSDT"} <= squeeze
    assert set(await _cells(page, 2)) == squeeze
    assert all("squeeze" in r for r in await _cells(page, 6))
    await page.fill("#search", "lsqz")
    assert await _cells(page, 2) == ["LSQZUSDT"]
    await page.fill("#search", "")


async def _check_live_refresh(page: Any, market: Any, top: dict[str, Any]) -> None:
    """A new cycle shows without a reload: the page's own state survives it."""
    await page.evaluate("window.__sameDocument = true")
    market.clock.now += 300
    await run_cycles(market, 1, seed=4)
    new_id = str(top["cycle"]["id"] + 1)
    # A selector, not wait_for_function: the page's CSP (rightly) forbids eval.
    await page.wait_for_selector(f"body[data-cycle='{new_id}']", timeout=15_000)
    assert await page.evaluate("window.__sameDocument === true")
    # Filters survive the refresh too.
    assert await page.get_attribute("[data-filter=squeeze]", "class") == "on"


async def _check_symbol_page(page: Any) -> None:
    await page.wait_for_selector(".panel svg path.line")
    assert await page.inner_text("#sym") == "LSQZUSDT"
    assert await page.inner_text("#regime") == "Long squeeze risk"
    assert len(await page.locator("#why li").all_inner_texts()) == 3
    panels = await page.locator(".panel").evaluate_all("ps => ps.map(p => p.dataset.panel)")
    assert panels == ["score", "oi", "liquidations", "oi_change", "funding", "price"]
    # Every panel has a drawn line with points, on the same time axis.
    assert await page.locator(".panel svg path.line").count() == 10
    # Hovering moves the cursor on every panel and reads out the hovered time.
    box = await page.locator(".panel[data-panel=score] svg").bounding_box()
    await page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] / 2)
    visible = await page.locator(".panel svg .cursor[visibility=visible]").count()
    assert visible == 6
    assert "latest" not in await page.inner_text("#readout")
    await page.click("[data-range='30d']")
    await page.wait_for_selector("body[data-loaded='30d']")
    await page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] / 2)


async def test_a_browser_opens_a_guarded_dashboard_with_the_token_link(
    tmp_path: Path, browser: Any
) -> None:
    token = "browser-test-token-0123"
    async with (
        scored_market(tmp_path, cycles=1, token=token, n=4) as market,
        serve(market.settings, market.sessions) as url,
    ):
        page = await browser.new_page()
        response = await page.goto(f"{url}/")
        assert response.status == 401
        await page.goto(f"{url}/?token={token}")
        # The token left the address bar; the cookie carries the page's API calls.
        assert page.url == f"{url}/"
        await page.wait_for_selector("#market tbody tr")
        assert await page.inner_text("#symbols") == "7"
        cookies = await page.context.cookies()
        assert [c["httpOnly"] for c in cookies] == [True]
        assert token not in cookies[0]["value"]
