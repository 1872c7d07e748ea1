"""The dashboard's JSON API against a real scored market: the same document as
`pressurebot scan --json`, described by its OpenAPI document, cached per cycle."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import aiohttp
import jsonschema
import pytest

from bot.views.liquidation_fields import ROW_KEYS as LIQ_ROW_KEYS
from bot.views.market import JSON_ROW_KEYS
from fakes.fake_binance import FakeBinance
from fakes.migrated_db import migrated_sqlite
from tests.test_cli import cli_env, run_cli
from tests.web.helpers import XSS_SYMBOL, rows_by_symbol, run_cycles, scored_market, serve
from tests.web.helpers import set_up_symbols as set_up


async def get_json(http: aiohttp.ClientSession, url: str) -> tuple[int, Any]:
    async with http.get(url) as r:
        return r.status, await r.json()


@pytest.mark.slow
async def test_top_is_scan_json_for_the_same_cycle(tmp_path: Path) -> None:
    """`pressurebot scan --json` (a subprocess, as a user runs it), then the dashboard
    on the same database: /api/v1/top is that document, key for key."""
    from bot.config import Settings
    from bot.storage.db import create_engine, session_factory

    async with FakeBinance() as fake:
        set_up(fake, int(time.time() * 1000), n=12)
        env = cli_env(tmp_path, fake.url)
        code, out, err = await run_cli("scan", "--json", env=env)
        assert code == 0, err
        scanned = json.loads(out)

    settings = Settings(
        exchange={"venues": ["binance"]}, database={"url": env["PRESSUREBOT_DATABASE__URL"]}
    )  # type: ignore[arg-type]
    engine = create_engine(settings.database)
    try:
        async with (
            serve(settings, session_factory(engine)) as url,
            aiohttp.ClientSession() as http,
        ):
            status, top = await get_json(http, f"{url}/api/v1/top")
            assert status == 200
            # The one difference: scan runs no liquidation stream and says so, the
            # service reads the stored buckets (none here: zero, coverage 0).
            assert scanned["liquidations"]["stream"] is False
            assert top["liquidations"]["stream"] is True
            # Nor does it fetch long/short ratios; the service shows what is stored.
            assert scanned["positioning"]["fetched"] is False
            assert top["positioning"]["fetched"] is True
            for row in scanned["rows"]:
                assert all(row[k] is None for k in LIQ_ROW_KEYS)
                assert row["squeeze_phase"] is None  # no stream, no cascade
            for row in top["rows"]:
                assert list(row)[: len(JSON_ROW_KEYS)] == list(JSON_ROW_KEYS)
                assert row["liq_1h_long_usd"] == 0.0 and row["liq_coverage_1h"] == 0.0
                assert row["liq_1h_x_normal"] is None and row["ls_account_ratio"] is None
            assert without_liquidations(top) == without_liquidations(scanned)
            # The symbol card carries the same row, key for key.
            for symbol in ("LSQZUSDT", XSS_SYMBOL):
                status, card = await get_json(
                    http, f"{url}/api/v1/symbol/{aiohttp.helpers.quote(symbol, safe='')}"
                )
                assert status == 200, card
                assert card["row"] == rows_by_symbol(top)[symbol]
            status, limited = await get_json(http, f"{url}/api/v1/top?limit=3")
            assert limited["rows"] == top["rows"][:3]
    finally:
        await engine.dispose()


def without_liquidations(doc: dict[str, Any]) -> dict[str, Any]:
    rows = [{k: v for k, v in r.items() if k not in LIQ_ROW_KEYS} for r in doc["rows"]]
    kept = {k: v for k, v in doc.items() if k not in ("liquidations", "positioning")}
    return {**kept, "rows": rows}


def validator(spec: dict[str, Any], schema: str) -> jsonschema.Draft202012Validator:
    """The spec itself is the root, so its "#/components/..." references resolve."""
    root = {**spec, "$ref": f"#/components/schemas/{schema}"}
    return jsonschema.Draft202012Validator(root)


async def test_every_response_validates_against_the_openapi_document(tmp_path: Path) -> None:
    async with (
        scored_market(tmp_path, cycles=3) as market,
        serve(market.settings, market.sessions) as url,
        aiohttp.ClientSession() as http,
    ):
        status, spec = await get_json(http, f"{url}/api/v1/openapi.json")
        assert status == 200 and spec["openapi"].startswith("3.1")
        jsonschema.Draft202012Validator.check_schema(spec["components"]["schemas"]["Top"])
        operations = {p: list(ops) for p, ops in spec["paths"].items()}
        assert operations == {
            "/api/v1/latest": ["get"],
            "/api/v1/top": ["get"],
            "/api/v1/symbol/{symbol}": ["get"],
        }
        sym = "/api/v1/symbol/{symbol}"
        checks = [
            ("/api/v1/latest", "/api/v1/latest", 200, "Latest"),
            ("/api/v1/top", "/api/v1/top", 200, "Top"),
            ("/api/v1/top?limit=2", "/api/v1/top", 200, "Top"),
            ("/api/v1/top?limit=0", "/api/v1/top", 400, "Error"),
            ("/api/v1/symbol/SSQZUSDT", sym, 200, "Symbol"),
            ("/api/v1/symbol/ssqz?range=30d", sym, 200, "Symbol"),
            ("/api/v1/symbol/SSQZUSDT?range=1y", sym, 400, "Error"),
            ("/api/v1/symbol/NOSUCHUSDT", sym, 404, "Error"),
        ]
        for path, documented, want, schema in checks:
            status, body = await get_json(http, url + path)
            assert status == want, (path, body)
            assert str(want) in spec["paths"][documented]["get"]["responses"], path
            validator(spec, schema).validate(body)


async def test_symbol_series_cover_the_range_and_end_at_the_card(tmp_path: Path) -> None:
    async with (
        scored_market(tmp_path, cycles=4) as market,
        serve(market.settings, market.sessions) as url,
        aiohttp.ClientSession() as http,
    ):
        _, card = await get_json(http, f"{url}/api/v1/symbol/lsqzusdt?range=24h")
    series = card["series"]
    assert len(series["t"]) == 4 and series["t"] == sorted(series["t"])
    assert series["score"][-1] == card["row"]["score"]
    assert series["oi_24h_pct"][-1] == pytest.approx(card["row"]["oi_24h_pct"])
    assert series["mark_price"][-1] == pytest.approx(card["row"]["mark_price"])
    assert card["row"]["regime"] == "Long squeeze risk"
    assert card["bands"]["stressed"] == [60, 100]
    assert sum(p["points"] for p in card["why"]) == pytest.approx(card["row"]["score"], abs=0.51)


async def test_top_is_cached_per_cycle_and_changes_when_a_cycle_lands(tmp_path: Path) -> None:
    async with scored_market(tmp_path, cycles=2) as market:
        # The latest cycle id is re-read at every request here (the bot reuses it 1 s).
        market.settings.telegram.latest_cycle_cache_seconds = 0
        async with serve(market.settings, market.sessions) as url, aiohttp.ClientSession() as http:
            async with http.get(f"{url}/api/v1/top") as r:
                etag, first = r.headers["ETag"], await r.json()
                assert r.headers["Content-Encoding"] == "gzip"
            async with http.get(f"{url}/api/v1/top", headers={"If-None-Match": etag}) as r:
                assert r.status == 304
            _, latest = await get_json(http, f"{url}/api/v1/latest")
            assert latest["cycle_id"] == first["cycle"]["id"]

            market.clock.now += 300
            await run_cycles(market, 1, seed=9)

            _, latest = await get_json(http, f"{url}/api/v1/latest")
            assert latest["cycle_id"] == first["cycle"]["id"] + 1
            async with http.get(f"{url}/api/v1/top", headers={"If-None-Match": etag}) as r:
                assert r.status == 200 and r.headers["ETag"] != etag
                assert (await r.json())["cycle"]["id"] == latest["cycle_id"]


async def test_before_any_cycle_the_api_says_so(tmp_path: Path) -> None:
    from bot.config import Settings
    from bot.storage.db import create_engine, session_factory

    settings = Settings(
        exchange={"venues": ["binance"]},
        database={"url": migrated_sqlite(tmp_path / "empty.db")},
    )  # type: ignore[arg-type]
    engine = create_engine(settings.database)
    try:
        async with serve(settings, session_factory(engine)) as url, aiohttp.ClientSession() as http:
            assert await get_json(http, f"{url}/api/v1/latest") == (
                200,
                {"cycle_id": None, "generated_at": None},
            )
            status, body = await get_json(http, f"{url}/api/v1/top")
            assert status == 404 and "no cycle" in body["error"]
            async with http.get(f"{url}/") as r:
                assert r.status == 200
    finally:
        await engine.dispose()


async def test_add_dashboard_puts_every_route_beside_the_apps_own(tmp_path: Path) -> None:
    from aiohttp import web

    from bot.config import Settings
    from bot.storage.db import create_engine, session_factory
    from bot.web import add_dashboard

    settings = Settings(
        exchange={"venues": ["binance"]}, database={"url": f"sqlite+aiosqlite:///{tmp_path}/x.db"}
    )  # type: ignore[arg-type]
    engine = create_engine(settings.database)
    app = web.Application()

    async def healthz(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app.router.add_get("/healthz", healthz)
    add_dashboard(app, session_factory(engine), settings)
    paths = {r.canonical for r in app.router.resources()}
    assert paths == {
        "/healthz",
        "/",
        "/symbol/{symbol}",
        "/rules",
        "/static/{name}",
        "/api/v1/latest",
        "/api/v1/top",
        "/api/v1/symbol/{symbol}",
        "/api/v1/openapi.json",
    }
    await engine.dispose()


async def test_how_to_read_it_shows_the_configured_band_ranges(tmp_path: Path) -> None:
    from bot.config import Settings
    from bot.storage.db import create_engine, session_factory

    settings = Settings(
        exchange={"venues": ["binance"]},  # type: ignore[arg-type]
        database={"url": migrated_sqlite(tmp_path / "b.db")},  # type: ignore[arg-type]
        scoring={"lean_from": 20, "stretched_from": 40, "stressed_from": 70},  # type: ignore[arg-type]
    )
    engine = create_engine(settings.database)
    try:
        async with (
            serve(settings, session_factory(engine)) as url,
            aiohttp.ClientSession() as http,
            http.get(f"{url}/") as r,
        ):
            page = await r.text()
    finally:
        await engine.dispose()
    for lo, hi, band in ((0, 19, "neutral"), (20, 39, "lean"), (40, 69, "stretched")):
        assert f'<td class="num">{lo}-{hi}</td><td><span class="band band-{band}">' in page
    assert '<option value="stressed">stressed (70-100)</option>' in page


async def test_long_ranges_are_thinned_to_evenly_spaced_cycles_keeping_the_newest(
    tmp_path: Path,
) -> None:
    from bot.storage import market_repo

    async with scored_market(tmp_path, cycles=6, n=2) as market, market.sessions() as session:
        columns = ("score", "cycle_id")
        full = await market_repo.snapshot_series(session, "binance", "LSQZUSDT", 0, columns)
        thinned = await market_repo.snapshot_series(
            session, "binance", "LSQZUSDT", 0, columns, max_points=2
        )
        same = await market_repo.snapshot_series(
            session, "binance", "LSQZUSDT", 0, columns, max_points=6
        )
    assert [r[2] for r in full] == [1, 2, 3, 4, 5, 6]
    assert [r[2] for r in thinned] == [3, 6]
    assert same == full


async def test_top_takes_a_venue_and_defaults_to_the_aggregate(tmp_path: Path) -> None:
    import contextlib

    from bot.config import Settings
    from bot.cycle.run import Scorer
    from bot.cycle.venues import VenueScorers
    from bot.markets.adapters import open_adapters
    from bot.storage.db import create_engine, session_factory
    from fakes.fake_bybit import FakeBybit
    from fakes.fake_okx import FakeOkx
    from tests.test_scan_venues import _set_up

    engine = None
    async with FakeBinance() as fb, FakeBybit() as fy, FakeOkx() as fo:
        _set_up(fb, fy, fo)
        settings = Settings(
            exchange={  # type: ignore[arg-type]
                "venues": ["binance", "bybit", "okx"],
                "base_url": fb.url,
                "bybit_base_url": fy.url,
                "okx_base_url": fo.url,
            },
            database={"url": migrated_sqlite(tmp_path / "v.db")},  # type: ignore[arg-type]
        )
        engine = create_engine(settings.database)
        sessions = session_factory(engine)
        async with contextlib.AsyncExitStack() as stack:
            adapters = await open_adapters(settings, stack, clock=time.time)
            scorers = [Scorer(a, sessions, settings) for a in adapters]
            await VenueScorers(scorers, sessions, settings).run_cycle()
    try:
        async with serve(settings, sessions) as url, aiohttp.ClientSession() as http:
            status, doc = await get_json(http, f"{url}/api/v1/top")
            assert status == 200
            assert {(r["exchange"], r["symbol"]) for r in doc["rows"]} == {
                ("all", "BTC"),
                ("all", "PEPE"),
            }
            assert {v["venue"] for v in doc["rows"][0]["venues"]} == {"binance", "bybit", "okx"}
            status, doc = await get_json(http, f"{url}/api/v1/top?exchange=okx&limit=1")
            assert status == 200 and [r["exchange"] for r in doc["rows"]] == ["okx"]
            status, doc = await get_json(http, f"{url}/api/v1/top?exchange=kraken")
            assert status == 400 and "binance, bybit, okx, all" in doc["error"]
            # A symbol page per venue: the aggregate's coin, and one venue's contract.
            status, doc = await get_json(http, f"{url}/api/v1/symbol/BTC")
            assert status == 200 and (doc["exchange"], doc["symbol"]) == ("all", "BTC")
            status, doc = await get_json(http, f"{url}/api/v1/symbol/BTCUSDT?exchange=bybit")
            assert status == 200 and (doc["exchange"], doc["symbol"]) == ("bybit", "BTCUSDT")
            assert doc["row"]["exchange"] == "bybit" and doc["series"]["t"]
            status, doc = await get_json(http, f"{url}/api/v1/symbol/BTC?exchange=kraken")
            assert status == 400
            # The page offers the venues: the aggregate first.
            async with http.get(f"{url}/") as r:
                page = await r.text()
            assert '<select id="venue">' in page
            assert page.index('value="all"') < page.index('value="binance"')
    finally:
        await engine.dispose()


async def test_rows_carry_the_stored_liquidations_as_of_their_cycle(tmp_path: Path) -> None:
    """Buckets written by the stream ingest show in /api/v1/top and the symbol card:
    by side, as a share of OI (OI x mark), with the stream's coverage."""
    from bot.liquidations.events import LiqEvent
    from bot.liquidations.ingest import LiqIngest

    async with scored_market(tmp_path, cycles=1) as market:
        async with serve(market.settings, market.sessions) as url, aiohttp.ClientSession() as h:
            _, before = await get_json(h, f"{url}/api/v1/top")
            row = before["rows"][0]
            symbol, cycle_ms = row["symbol"], market.clock.ms()
            oi_usd = row["oi_contracts"] * row["mark_price"]
            ingest = LiqIngest(
                market.sessions, lambda: 1, wall_ms=lambda: cycle_ms, lateness_ms=86_400_000
            )
            ingest.clock_for("binance").up(cycle_ms - 3_600_000)
            events = [
                LiqEvent("binance", symbol, "long", 10.0, oi_usd / 1000, oi_usd / 100, cycle_ms),
                LiqEvent("binance", symbol, "short", 10.0, 1.0, 10.0, cycle_ms - 7_200_000),
            ]
            ingest.on_events(events, time.monotonic())
            await ingest.flush()
        # A new server: the first one cached the cycle's figures with the cycle.
        async with serve(market.settings, market.sessions) as url, aiohttp.ClientSession() as h:
            _, top = await get_json(h, f"{url}/api/v1/top")
            _, card = await get_json(h, f"{url}/api/v1/symbol/{symbol}")
    got = rows_by_symbol(top)[symbol]
    assert got["liq_1h_long_usd"] == pytest.approx(oi_usd / 100)
    assert got["liq_1h_short_usd"] == 0.0 and got["liq_24h_short_usd"] == 10.0
    assert got["liq_1h_oi_pct"] == pytest.approx(1.0)
    assert 0.95 < got["liq_coverage_1h"] <= 1.0
    assert card["row"]["liq_1h_long_usd"] == got["liq_1h_long_usd"]
    assert card["liquidations"]["stream"] is True


async def test_rows_carry_the_squeeze_phase_of_the_cascade_states(tmp_path: Path) -> None:
    from bot.alerts.types import CascadeSide, CascadeState
    from bot.scoring.formula import Regime
    from bot.storage import cascade_repo

    on = CascadeState(side=CascadeSide.LONG, since_ms=1, squeeze=Regime.LONG_SQUEEZE)
    flushed = CascadeState(flushed=Regime.SHORT_SQUEEZE, flushed_left=3, flushed_oi_pct=1.5)
    async with scored_market(tmp_path, cycles=1, n=4) as market:
        async with market.sessions() as session, session.begin():
            ex = market.settings.exchange.default_view
            await cascade_repo.save(session, ex, {"LSQZUSDT": on, "SSQZUSDT": flushed})
        async with serve(market.settings, market.sessions) as url, aiohttp.ClientSession() as http:
            _, spec = await get_json(http, f"{url}/api/v1/openapi.json")
            _, top = await get_json(http, f"{url}/api/v1/top")
            _, card = await get_json(http, f"{url}/api/v1/symbol/SSQZUSDT")
    validator(spec, "Top").validate(top)
    validator(spec, "Symbol").validate(card)
    phases = {r["symbol"]: r["squeeze_phase"] for r in top["rows"]}
    assert phases.pop("LSQZUSDT") == "under_way" and phases.pop("SSQZUSDT") == "flushed"
    assert set(phases.values()) == {None}
    assert card["row"]["squeeze_phase"] == "flushed"
