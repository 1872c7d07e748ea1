"""The dashboard on a phone, in Chromium emulating one (mobile viewport, touch): the
columns a trader reads first fit the width, the symbol stays in view, the header is one
line, the cards are compact, chart labels do not collide; and awkward names (braces, 200
characters, a bidi override) link right, do not widen the table and cannot spoof.

With PRESSUREBOT_TEST_SCREENSHOTS=1 the run saves docs/img/dashboard-phone.png and
docs/img/symbol-phone.png (390x844), which the README shows.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any
from urllib.parse import quote

from bot.web.pages import shown
from tests.web.chromium import MARKS, browser, shot, watch
from tests.web.helpers import (
    BIDI_SYMBOL,
    BRACES_SYMBOL,
    LONG_SYMBOL,
    REAL_LONG_SYMBOL,
    scored_market,
    serve,
)

pytestmark = MARKS
__all__ = ["browser"]  # the fixture, imported for the tests below

# An iPhone 12-15 (390x844), the phone the issue measured on (356), the narrowest (320).
PHONES = [(390, 844), (356, 740), (320, 640)]
FIRST_COLUMNS = ("score", "band", "bias")

# Where the header's parts, the summary cards and the first columns sit, in CSS pixels.
LAYOUT = """(keys) => {
  const box = e => {
    const r = e.getBoundingClientRect();
    return [r.left, r.top, r.right, r.bottom];
  };
  const heads = [...document.querySelectorAll('#market thead th')];
  const wrap = document.querySelector('.table-wrap');
  const rows = [...document.querySelectorAll('#market tbody tr')].slice(0, 12);
  return {
    page: document.documentElement.scrollWidth, view: window.innerWidth,
    header: [...document.querySelectorAll('header.top > *')].map(box),
    cards: [...document.querySelectorAll('.summary .stat')].map(box),
    wrap: box(wrap), wrapScrolls: wrap.scrollWidth > wrap.clientWidth,
    symbol: rows.map(r => box(r.querySelector('td.sym'))),
    columns: keys.map(k => {
      const i = heads.findIndex(t => t.dataset.key === k);
      return [heads[i], ...rows.map(r => r.children[i])].map(box);
    }),
  };
}"""

HEADER = """() => [...document.querySelectorAll('header.top > *')].map(e => {
  const r = e.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom];
})"""

# The x axis labels of every chart, as [left, right, text] in canvas pixels.
TIME_LABELS = """() => PBChart.charts().map(u => {
  const axis = u.axes[0];
  u.ctx.save();
  u.ctx.font = axis.font[0];
  const out = axis._splits.map((s, i) => {
    const text = axis._values[i];
    if (text === null || text === undefined || text === '') return null;
    const w = u.ctx.measureText(String(text)).width, x = u.valToPos(s, 'x', true);
    return [x - w / 2, x + w / 2, String(text)];
  }).filter(Boolean);
  u.ctx.restore();
  return out;
})"""

# 30 days of hourly points drawn by the page's own chart code: the widest time span.
THIRTY_DAYS = """() => {
  const t = [], v = [], end = Date.UTC(2026, 11, 6, 13);
  for (let i = 0; i < 720; i++) {
    t.push(end - (719 - i) * 3600e3);
    v.push(50 + 30 * Math.sin(i / 40));
  }
  PBChart.draw(document.getElementById('charts'), t, [
    { id: 'a', title: 'a', ticks: 'int', fmt: String,
      series: [{ label: 'a', values: v, color: '#000' }] },
  ]);
}"""


async def _phone(browser: Any, width: int, height: int) -> Any:
    context = await browser.new_context(
        viewport={"width": width, "height": height},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
    )
    return await context.new_page()


async def test_the_dashboard_on_a_phone(tmp_path: Path, browser: Any) -> None:
    async with (
        scored_market(tmp_path, cycles=8, awkward=True) as market,
        serve(market.settings, market.sessions) as url,
    ):
        for width, height in PHONES:
            page = await _phone(browser, width, height)
            dialogs, errors = watch(page)
            await page.goto(f"{url}/")
            await page.wait_for_selector("#market tbody tr")
            _check_layout(await page.evaluate(LAYOUT, list(FIRST_COLUMNS)), width)
            await _check_sticky_symbol(page)
            await _check_awkward_names(page)
            if width >= 390:  # a real long name is not cut
                link = await _link(page, REAL_LONG_SYMBOL)
                assert await link.evaluate("a => a.scrollWidth <= a.clientWidth")
            if width == 390 and (path := shot("dashboard-phone.png")) is not None:
                await page.evaluate("document.querySelector('.table-wrap').scrollLeft = 0")
                await page.screenshot(path=str(path))

            await page.goto(f"{url}/symbol/LSQZUSDT")
            await page.wait_for_selector(".panel .uplot canvas")
            assert await page.evaluate("document.documentElement.scrollWidth") <= width
            header = await page.evaluate(HEADER)
            assert max(b[3] for b in header) - min(b[1] for b in header) < 30
            if width == 390 and (path := shot("symbol-phone.png")) is not None:
                await page.screenshot(path=str(path))
            _no_overlap(await page.evaluate(TIME_LABELS))
            await page.evaluate(THIRTY_DAYS)
            thirty = await page.evaluate(TIME_LABELS)
            _no_overlap(thirty)
            assert all("-" in text for _, _, text in thirty[0])  # days apart: dates

            await page.goto(f"{url}/rules")  # the built-in rules: nothing wider than the screen
            await page.wait_for_selector("article.builtin")
            assert await page.evaluate("document.documentElement.scrollWidth") <= width
            assert dialogs == [] and errors == [], (width, dialogs, errors)
            await page.context.close()


def _check_layout(layout: dict[str, Any], width: int) -> None:
    # Nothing wider than the screen: only the table scrolls sideways, inside its box.
    assert layout["page"] <= layout["view"] == width
    assert layout["wrapScrolls"]
    # The header is one line (it wrapped to four at 356 px).
    header = layout["header"]
    assert max(b[3] for b in header) - min(b[1] for b in header) < 30, header
    # Five compact cards side by side, not a third of the screen.
    cards = layout["cards"]
    assert len(cards) == 5 and len({round(c[1]) for c in cards}) == 1
    assert cards[0][3] - cards[0][1] < 60 and cards[-1][2] <= width
    # Score, band and bias right of the symbol and inside the visible box.
    visible_right = layout["wrap"][2]
    symbol_right = max(b[2] for b in layout["symbol"])
    for key, cells in zip(FIRST_COLUMNS, layout["columns"], strict=True):
        for left, _, right, _ in cells:
            assert symbol_right - 1 <= left and right <= visible_right, (width, key, right)


async def _check_sticky_symbol(page: Any) -> None:
    """Scrolled sideways, the symbol column stays at the left edge of the table."""
    at_rest = await page.locator("#market tbody td.sym").first.bounding_box()
    await page.evaluate("document.querySelector('.table-wrap').scrollLeft = 400")
    scrolled = await page.locator("#market tbody td.sym").first.bounding_box()
    score = await page.locator("#market tbody td.score").first.bounding_box()
    assert abs(scrolled["x"] - at_rest["x"]) < 1
    assert score["x"] < at_rest["x"]  # the score went under it, off to the left
    await page.evaluate("document.querySelector('.table-wrap').scrollLeft = 0")


async def _link(page: Any, symbol: str) -> Any:
    rows = page.locator("#market tbody tr")
    index = (await rows.evaluate_all("rs => rs.map(r => r.dataset.symbol)")).index(symbol)
    return rows.nth(index).locator("td.sym a")


async def _check_awkward_names(page: Any) -> None:
    # 200 characters: cut with an ellipsis, the whole name in the tooltip.
    link = await _link(page, LONG_SYMBOL)
    assert await link.get_attribute("title") == LONG_SYMBOL
    assert await link.text_content() == LONG_SYMBOL
    assert await link.evaluate("a => a.scrollWidth > a.clientWidth")
    assert (await link.bounding_box())["width"] < 10 * 16  # 8.8rem at most
    # A bidi override is shown as U+FFFD, in the text and the tooltip; the link is exact.
    link = await _link(page, BIDI_SYMBOL)
    assert await link.text_content() == shown(BIDI_SYMBOL) != BIDI_SYMBOL
    assert "\u202e" not in await link.get_attribute("title")
    assert (await link.get_attribute("href")).endswith(quote(BIDI_SYMBOL, safe=""))


async def test_awkward_names_link_to_their_pages_and_keep_the_desktop_table_narrow(
    tmp_path: Path, browser: Any
) -> None:
    async with (
        scored_market(tmp_path, cycles=2, n=4, awkward=True) as market,
        serve(market.settings, market.sessions) as url,
    ):
        page = await browser.new_page(viewport={"width": 1280, "height": 900})
        dialogs, errors = watch(page)
        await page.goto(f"{url}/")
        await page.wait_for_selector("#market tbody tr")
        # The 200-character name fits the desktop table without a sideways scroll.
        assert await page.evaluate(
            "(w => w.scrollWidth <= w.clientWidth)(document.querySelector('.table-wrap'))"
        )
        await (await _link(page, BRACES_SYMBOL)).click()
        await page.wait_for_url(f"{url}/symbol/%7BBR%7DUSDT")
        await page.wait_for_selector(".panel .uplot canvas")
        assert await page.inner_text("#sym") == BRACES_SYMBOL

        await page.goto(f"{url}/symbol/{quote(BIDI_SYMBOL, safe='')}")
        await page.wait_for_selector(".panel .uplot canvas")
        assert await page.inner_text("#sym") == shown(BIDI_SYMBOL)
        assert "\u202e" not in await page.title()
        assert shown(BIDI_SYMBOL) in await page.title()

        await page.goto(f"{url}/symbol/{quote(LONG_SYMBOL, safe='')}")
        await page.wait_for_selector(".panel .uplot canvas")
        assert await page.evaluate("document.documentElement.scrollWidth") <= 1280
        assert dialogs == [] and errors == []


def _no_overlap(charts: list[list[list[Any]]]) -> None:
    """Each chart has time labels, and no two of them touch (2 px apart at least)."""
    assert charts
    for labels in charts:
        assert len(labels) >= 2, labels
        for (_, right, a), (left, _, b) in itertools.pairwise(labels):
            assert left - right >= 2, (a, b, right, left)
