"""The read-only page of built-in rules (/rules): each with its measured evidence, under
the dashboard's headers; measuring starts at the first view and is never waited for."""

from __future__ import annotations

from pathlib import Path

import aiohttp
from sqlalchemy import text

from bot.replay.rule_history import LoadOnce
from bot.views.builtin_rules import BuiltinEvidence
from tests.telegram.test_tg_builtin_rules import flip_history
from tests.web.helpers import scored_market, serve


async def test_the_rules_page_lists_each_with_its_evidence(tmp_path: Path) -> None:
    evidence = BuiltinEvidence(LoadOnce(flip_history))
    async with (
        scored_market(tmp_path, cycles=1, n=2) as market,
        serve(market.settings, market.sessions, evidence) as url,
        aiohttp.ClientSession() as http,
    ):
        async with http.get(url + "/rules") as r:
            assert r.status == 200
            assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]
            first = await r.text()
        # The first view starts the measuring and does not wait for it.
        assert 'id="measuring"' in first and 'id="rule-funding-flip"' in first
        await evidence.get()
        async with http.get(url + "/rules") as r:
            page = await r.text()
    assert 'id="measuring"' not in page
    flip = page[page.index('id="rule-funding-flip"') : page.index('id="rule-funding-next-high"')]
    assert "funding changes sign since the cycle before" in flip
    assert '<td>after it fired</td><td class="num">1</td><td class="num">100%</td>' in flip
    assert '<td>all hours</td><td class="num">24</td><td class="num">4%</td>' in flip
    assert "Fired once, 0.500 per symbol-day, on SOLUSDT" in flip
    assert "2026-01-01 to 2026-01-02" in flip
    rest = page[page.index('id="rule-funding-next-high"') :]
    assert "the recorded history has no such data" in rest
    assert "Not available in this version" not in rest  # every field a built-in reads exists


async def test_the_symbol_page_says_when_it_looked_like_this_before(tmp_path: Path) -> None:
    from bot.views.lookalike import build_library
    from tests.views.test_lookalike import HOURS, state

    library = build_library((state(i, "LSQZUSDT") for i in range(HOURS)), "test.csv")
    async with scored_market(tmp_path, cycles=1, n=2) as market:
        async with market.sessions() as session, session.begin():  # 90 days known for it
            await session.execute(
                text(
                    "UPDATE score_snapshots SET funding_pctl_90d = 97, oi_24h_pctl_90d = 92,"
                    " basis_pctl_90d = 50 WHERE symbol = 'LSQZUSDT'"
                )
            )
        async with (
            serve(market.settings, market.sessions, lookalikes=lambda: library) as url,
            aiohttp.ClientSession() as http,
        ):
            async with http.get(url + "/api/v1/symbol/LSQZUSDT") as r:
                doc = await r.json()
            async with http.get(url + "/api/v1/symbol/SSQZUSDT") as r:
                other = await r.json()
    assert doc["lookalike"].startswith("the 20 past hours most like now (2020, a day apart")
    assert other["lookalike"] == ""  # no history for it
    # the line the Telegram card shows, on the web symbol page
    assert doc["unusual"] == (
        "For this symbol: funding premium in its top 5% of 90 days · OI 24h in its top 10%"
        " of 90 days"
    )
    assert other["unusual"] == ""  # no 90 days known
