"""Per-cycle caches behind /top and /symbol (P5, README Performance): charts drawn
ahead after each cycle, the latest cycle id reused for a moment. A new cycle must never
show a user the previous cycle's chart or table."""

from __future__ import annotations

import asyncio
import time
import warnings
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.storage import chat_repo
from bot.telegram.chart_figure import render_chart
from bot.telegram.charts import ChartCache
from bot.views import liquidations, market
from bot.views.market_cache import MarketCache
from fakes.fake_telegram import FakeTelegram
from tests.telegram.helpers import EXCHANGE, add_cycle, add_market, band_of, reference_rows

USER = 42


async def ask(fake: FakeTelegram, text: str) -> Any:
    before = len(fake.messages_to(USER))
    fake.push_message(USER, text)
    return (await fake.wait_for_messages(USER, before + 1))[before]


async def chart_points(
    sessions: async_sessionmaker[AsyncSession], symbol: str
) -> list[tuple[float, ...]]:
    """The points /symbol draws: with the liquidations panel's columns (the settings
    keep the stream on, as by default)."""
    async with sessions() as s:
        _, history = await market.symbol_detail(s, EXCHANGE, symbol, 48)
        return await liquidations.chart_points(s, EXCHANGE, symbol, history)


def expected_chart(symbol: str, points: list[tuple[float, ...]]) -> bytes:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # AutoDateLocator on a few points
        return render_chart(symbol, points)


async def test_a_new_cycle_never_serves_the_previous_chart(
    start: Any,
    make_settings: Any,
    sessions: async_sessionmaker[AsyncSession],
    fake_tg: FakeTelegram,
) -> None:
    await add_market(sessions)
    runtime = await start(
        make_settings(latest_cycle_cache_seconds=0, chart_prerender_symbols=100)  # default
    )
    prerender, charts = runtime.chart_prerender, runtime.deps.charts

    first = await ask(fake_tg, "/symbol btc")
    old_points = await chart_points(sessions, "BTCUSDT")
    assert first.method == "sendPhoto"
    assert first.photo == expected_chart("BTCUSDT", old_points)
    # The cycle's charts are drawn ahead: its top 10 by score (/top's first page; BTC,
    # just opened, is one of them).
    await asyncio.wait_for(prerender.idle.wait(), 30)
    assert len(charts) == 10

    # The next cycle: BTC jumps to 90.
    rows = reference_rows()
    btc = next(r for r in rows if r["symbol"] == "BTCUSDT")
    btc["score"], btc["band"] = 90, band_of(90)
    await add_cycle(sessions, rows, ts_ms=int(time.time() * 1000) + 1_000)

    top = await ask(fake_tg, "/top 3")
    table = (top.text or "").split("<pre>", 1)[1].split("\n")
    assert table[1].split()[:3] == ["1", "BTC", "90"]  # the new cycle's table
    # That /top noticed the cycle: its charts are drawn ahead again.
    await asyncio.wait_for(prerender.idle.wait(), 30)
    new_points = await chart_points(sessions, "BTCUSDT")
    assert new_points[-1][1] == 90
    assert ("BTCUSDT", new_points[-1][0], len(new_points)) in charts

    second = await ask(fake_tg, "/symbol btc")
    assert "Score 90/100" in second.visible
    assert second.photo == expected_chart("BTCUSDT", new_points)
    assert second.photo != first.photo


async def test_only_the_charts_users_open_are_drawn_ahead(
    start: Any,
    make_settings: Any,
    sessions: async_sessionmaker[AsyncSession],
    fake_tg: FakeTelegram,
) -> None:
    """After a cycle: the top of /top, subscribed symbols (of active chats) and charts
    opened lately, highest score first, at most chart_prerender_symbols of them."""
    await add_market(sessions)
    settings = make_settings(
        latest_cycle_cache_seconds=0, chart_prerender_top=1, chart_prerender_symbols=3
    )
    runtime = await start(settings)
    prerender, charts = runtime.chart_prerender, runtime.deps.charts
    await ask(fake_tg, "/subscribe kas")  # 24
    await ask(fake_tg, "/subscribe eth")  # 12: the lowest, past the limit of three
    await ask(fake_tg, "/symbol doge")  # 31, opened
    fake_tg.push_message(USER + 1, "/subscribe bananas31")
    await fake_tg.wait_for_messages(USER + 1, 1)
    async with sessions() as session, session.begin():
        await chat_repo.deactivate_chat(session, USER + 1, "blocked")  # a chat that left

    await add_cycle(sessions, reference_rows(), ts_ms=int(time.time() * 1000) + 1_000)
    await ask(fake_tg, "/top 3")  # notices the cycle
    await asyncio.wait_for(prerender.idle.wait(), 30)
    drawn = set()
    for row in reference_rows():
        points = await chart_points(sessions, row["symbol"])
        if (row["symbol"], points[-1][0], len(points)) in charts:
            drawn.add(row["symbol"])
    assert drawn == {"SOLUSDT", "DOGEUSDT", "KASUSDT"}  # top 1, opened, subscribed
    assert prerender.last_run is not None and prerender.last_run[1] == 3


async def test_latest_cycle_id_is_reused_only_for_its_ttl(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """One DB read serves every command for `cycle_ttl` seconds; after that a new cycle
    is seen, and announced once to `on_new_cycle`."""
    now = [100.0]
    cache = MarketCache(sessions, EXCHANGE, cycle_ttl=1.0, clock=lambda: now[0])
    seen: list[int] = []
    cache.on_new_cycle = seen.append
    first = await add_market(sessions, history=1)
    assert await cache.latest_cycle_id() == first
    snapshot = await cache.snapshot()
    assert snapshot is not None and snapshot.cycle_id == first

    second = await add_cycle(sessions, reference_rows(), ts_ms=int(time.time() * 1000) + 1_000)
    now[0] += 0.5
    assert await cache.latest_cycle_id() == first  # within the TTL
    now[0] += 0.6
    assert await cache.latest_cycle_id() == second
    snapshot = await cache.snapshot()
    assert snapshot is not None and snapshot.cycle_id == second
    assert await cache.latest_cycle_id() == second
    assert seen == [first, second]


async def test_concurrent_commands_share_one_cycle_read(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    first = await add_market(sessions, history=1)
    cache = MarketCache(sessions, EXCHANGE, cycle_ttl=60.0)
    seen: list[int] = []
    cache.on_new_cycle = seen.append
    ids = await asyncio.gather(*(cache.latest_cycle_id() for _ in range(20)))
    assert ids == [first] * 20 and seen == [first]


def test_the_chart_shows_open_interest_funding_and_basis_under_the_score() -> None:
    """The /symbol photo carries the score's inputs on the same time axis: three panels
    (a taller image) for history points, the score panel alone for bare pairs."""
    import struct

    from bot.storage.market_repo import HistoryPoint

    points = [
        HistoryPoint(1_700_000_000_000 + i * 300_000, 40 + i % 9, 1e6 + i * 500, 0.01, 0.02)
        for i in range(48)
    ]

    def height(png: bytes) -> int:
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        return int(struct.unpack(">I", png[20:24])[0])

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        full = render_chart("BTCUSDT", points)
        score_only = render_chart("BTCUSDT", [(p.ts_ms, p.score) for p in points])
    assert height(full) == 560 and height(score_only) == 320


async def test_opened_charts_are_remembered_for_the_configured_time_only() -> None:
    """ChartCache notes which charts users asked for (not the pre-renderer's own
    draws); after `chart_prerender_viewed_hours` they are no longer drawn ahead."""
    now = [1000.0]
    charts = ChartCache(clock=lambda: now[0])
    points = [(1_765_000_000_000 + i * 300_000, 40 + i) for i in range(3)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # AutoDateLocator on a few points
        await charts.get("BTCUSDT", points)
        await charts.get("ETHUSDT", points, viewed=False)
        now[0] += 3600
        await charts.get("SOLUSDT", points)
    assert charts.viewed_within(24 * 3600) == {"BTCUSDT", "SOLUSDT"}
    now[0] += 23.5 * 3600
    assert charts.viewed_within(24 * 3600) == {"SOLUSDT"}
