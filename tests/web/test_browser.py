"""The dashboard in a real browser: headless Chromium (Debian's `chromium`, which
.ci/run installs) driven by Playwright, against a server with real scored data.

With PRESSUREBOT_TEST_SCREENSHOTS=1 the run saves docs/img/dashboard.png and
docs/img/symbol.png, the screenshots the README shows (test_phone.py: the phone ones).
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp

from tests.web.chromium import MARKS, browser, shot, watch
from tests.web.helpers import XSS_SYMBOL, run_cycles, scored_market, serve

pytestmark = MARKS
__all__ = ["browser"]  # the fixture, imported for the tests below


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
            dialogs, errors = watch(page)

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
            if (path := shot("dashboard.png")) is not None:
                await page.screenshot(path=str(path), full_page=True)

            await page.click("#market tbody a >> text=LSQZUSDT")
            await page.wait_for_url(f"{url}/symbol/LSQZUSDT")
            await _check_symbol_page(page, market)
            if (path := shot("symbol.png")) is not None:
                await page.screenshot(path=str(path), full_page=True)

            # The hostile symbol's own page: its name is text in the title and the card.
            await page.goto(f"{url}/symbol/{quote(XSS_SYMBOL, safe='')}")
            await page.wait_for_selector(".panel canvas")
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
    title = await page.get_attribute("#market tbody tr td:nth-child(13)", "title")
    # The stream's coverage was written up to the liquidation; the cycle came later.
    assert title is not None and re.fullmatch(
        r"longs \$8\.4k · shorts \$0 · [\d.]+% of OI · stream live \d+% of the hour", title
    ), title
    await page.click("[data-filter=all]")
    await page.click("#market th[data-key=liq_1h_usd]")
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
    assert all("OI building: risk either way" in r for r in await _cells(page, 6))
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


async def _check_symbol_page(page: Any, market: Any) -> None:
    await page.wait_for_selector(".panel .uplot canvas")
    assert await page.inner_text("#sym") == "LSQZUSDT"
    assert await page.inner_text("#regime") == "Longs pay, OI building: risk either way"
    assert len(await page.locator("#why li").all_inner_texts()) == 3
    panels = await page.locator(".panel").evaluate_all("ps => ps.map(p => p.dataset.panel)")
    assert panels == ["score", "oi", "liquidations", "oi_change", "funding", "price"]
    # Every panel is a uPlot chart with its lines (10 series), on one time axis.
    series = await page.evaluate("PBChart.charts().map(u => u.series.length - 1)")
    assert series == [1, 1, 2, 3, 2, 1]
    # Away from the charts, each legend shows the latest value (the card's).
    legend = ".panel[data-panel=score] .u-series:not(:first-child) .u-value"
    assert await page.locator(legend).all_inner_texts() == [await page.inner_text("#score")]
    # Hovering one panel moves the crosshair on all six and reads out the time.
    over = await page.locator(".panel[data-panel=score] .u-over").bounding_box()
    await page.mouse.move(over["x"] + over["width"] * 0.3, over["y"] + over["height"] / 2)
    # Waited for (Playwright polls), not read at once: uPlot may draw on the next frame.
    await page.locator(".panel .u-cursor-x:not(.u-off)").nth(5).wait_for()
    await page.locator("#readout:not(:has-text('latest'))").wait_for()
    await _check_zoom(page, over, market)
    await page.mouse.move(0, 0)  # away: the latest again
    await page.locator("#readout:has-text('latest')").wait_for()
    await page.click("[data-range='30d']")
    await page.wait_for_selector("body[data-loaded='30d']")
    await _check_ticks(page)


X_RANGES = "PBChart.charts().map(u => [u.scales.x.min, u.scales.x.max])"


async def _check_zoom(page: Any, over: dict[str, float], market: Any) -> None:
    """A drag across one panel zooms all six to the same time range, a new cycle keeps
    that zoom, and a double-click zooms every one back out."""
    full = await page.evaluate(X_RANGES)
    y = over["y"] + over["height"] / 2
    await page.mouse.move(over["x"] + over["width"] * 0.2, y)
    await page.mouse.down()
    await page.mouse.move(over["x"] + over["width"] * 0.6, y, steps=5)
    await page.mouse.up()
    zoomed = await page.evaluate(X_RANGES)
    assert len({tuple(r) for r in zoomed}) == 1, zoomed
    (lo, hi), (full_lo, full_hi) = zoomed[0], full[0]
    assert full_lo < lo < hi < full_hi and hi - lo < (full_hi - full_lo) * 0.6
    cycle = int(await page.get_attribute("body", "data-cycle"))
    market.clock.now += 300
    await run_cycles(market, 1, seed=5)
    await page.wait_for_selector(f"body[data-cycle='{cycle + 1}']", timeout=15_000)
    assert await page.evaluate(X_RANGES) == zoomed
    await page.dblclick(".panel[data-panel=oi] .u-over")
    full = await page.evaluate(X_RANGES)  # now with the new cycle's point
    assert len({tuple(r) for r in full}) == 1 and full[0][1] > full_hi


async def _check_ticks(page: Any) -> None:
    """Axis steps are 1, 2, 2.5 or 5 times a power of ten (no "1,226.78")."""
    steps = await page.evaluate(
        "PBChart.charts().map(u => u.axes[1]._splits).filter(s => s.length > 1)"
        ".map(s => s[1] - s[0])"
    )
    assert len(steps) == 6
    for step in steps:
        mantissa = step / 10 ** math.floor(math.log10(step))
        assert min(abs(mantissa - m) for m in (1, 2, 2.5, 5, 10)) < 1e-6, step


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
