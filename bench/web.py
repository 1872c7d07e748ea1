"""Web dashboard benchmark (README, Performance): `/` and `/api/v1/top` under 20
concurrent clients, against 600 symbols and 30 days of 5-minute cycles, beside naive peers.

    .venv/bin/python bench/web.py [--days 30] [--symbols 600] [--clients 20]
        [--requests 2000] [--naive-requests 60] [--keep] [--db PATH]

Prints a table and PASS/FAIL (p95 < 50 ms for `/` and `/api/v1/top`); exits 1 on a miss.

Method:
- Data: bench/storage.py's generator and bulk load (same random walks, same schema via
  Alembic), `days` days of cycles for `symbols` symbols in a temp-file SQLite DB.
- Server: a separate process (so the load generator does not share its event loop), the
  aiohttp app bot/web/health_server.py serves, with `bot.web.add_dashboard` on it, as in service.
- Load: `clients` aiohttp sessions in this process, each sending its next request as
  soon as the last one is answered, until `requests` are done; the first 2 per client
  are warm-up and not counted. Latency = request sent to body read, gzip accepted (as a
  browser does; the body is not inflated). Wall-clock on a shared machine: p95
  includes waiting for a core.
- OURS: `/` (the page shell: rendered once, since it only depends on the config) and
  `/api/v1/top` (the latest cycle id reused 1 s, the JSON serialised and gzipped once
  per cycle id).
- NAIVE peers, same server and DB: `/naive/top`, the "latest row per symbol" GROUP BY
  query (no cycles table) and serialisation per request; `/uncached/top`, our indexed
  query (`market.latest_market`) but serialised per request; `/naive/page`, the
  whole 600-row table rendered into HTML by Jinja2 per request, as a classic server-side
  page would be.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp
from _machine import machine  # bench/ is sys.path[0] when a script runs
from aiohttp import web
from jinja2 import Environment
from storage import (
    CYCLES_PER_DAY,
    EXCHANGE,
    Market,
    build,
    naive_top,
    symbol_names,
)

from bot.config import DatabaseSettings, Settings
from bot.storage.db import create_engine, migrate, session_factory
from bot.views import market
from bot.web import add_dashboard

TARGET_MS = 50.0
PAGE = Environment(autoescape=True).from_string(
    "<!doctype html><table>{% for r in rows %}<tr><td>{{ loop.index }}</td><td>{{ r.symbol }}"
    "</td><td>{{ r.score }}</td><td>{{ r.band }}</td><td>{{ r.bias }}</td><td>{{ r.regime }}"
    "</td><td>{{ r.oi_1h_pct }}</td><td>{{ r.oi_4h_pct }}</td><td>{{ r.oi_24h_pct }}</td>"
    "<td>{{ r.funding_pct }}</td><td>{{ r.basis_pct }}</td></tr>{% endfor %}</table>"
)


# ------------------------------------------------------------------ server process


def server_app(db: Path) -> web.Application:
    settings = Settings(
        database={"url": f"sqlite+aiosqlite:///{db}"}, exchange={"venues": ["binance"]}
    )  # type: ignore[arg-type]
    sessions = session_factory(create_engine(settings.database))
    app = web.Application()
    add_dashboard(app, sessions, settings)

    async def naive(request: web.Request) -> web.Response:
        async with sessions() as session:
            rows = await naive_top(session)
        snap = market.MarketSnapshot(0, 0, "ok", 0, rows, market.summarize(rows))
        return web.json_response(market.snapshot_to_json(snap))

    async def uncached(request: web.Request) -> web.Response:
        async with sessions() as session:
            snap = await market.latest_market(session, EXCHANGE)
        assert snap is not None
        return web.json_response(market.snapshot_to_json(snap))

    async def page(request: web.Request) -> web.Response:
        async with sessions() as session:
            snap = await market.latest_market(session, EXCHANGE)
        assert snap is not None
        return web.Response(text=PAGE.render(rows=snap.rows), content_type="text/html")

    app.router.add_get("/naive/top", naive)
    app.router.add_get("/uncached/top", uncached)
    app.router.add_get("/naive/page", page)
    return app


def serve(db: Path, port_file: Path) -> None:
    # The naive peers' pool timeouts are counted by the client; no traceback per request.
    logging.getLogger("aiohttp.server").setLevel(logging.CRITICAL)

    async def run() -> None:
        runner = web.AppRunner(server_app(db), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        await asyncio.to_thread(port_file.write_text, str(runner.addresses[0][1]))
        await asyncio.Event().wait()

    asyncio.run(run())


# ------------------------------------------------------------------ load


async def load(url: str, clients: int, total: int) -> tuple[list[float], float, int, int]:
    """(latencies ms, seconds, bytes of the last body, failed answers) for `total`
    requests. A failure (the naive peers run out of pooled connections) counts with its
    latency: the client waited that long for nothing."""
    left = total
    times: list[float] = []
    size = failed = 0

    async def client(http: aiohttp.ClientSession) -> None:
        nonlocal left, size, failed
        warm = 2
        while left > 0 or warm > 0:
            counted = warm == 0
            if counted:
                left -= 1
            t = time.perf_counter()
            async with http.get(url) as r:
                body = await r.read()
            if counted:
                times.append((time.perf_counter() - t) * 1000)
                size = len(body) if r.status == 200 else size
                failed += r.status != 200
            else:
                warm -= 1

    conn = aiohttp.TCPConnector(limit=0)
    # The body is read, not decompressed: a browser inflates it in its own process, and
    # here inflating 20 clients' bodies would load the generator, not the server.
    async with aiohttp.ClientSession(connector=conn, auto_decompress=False) as http:
        t0 = time.perf_counter()
        await asyncio.gather(*(client(http) for _ in range(clients)))
        return times, time.perf_counter() - t0, size, failed


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def line(label: str, times: list[float], secs: float, size: int, note: str = "") -> str:
    return (
        f"  {label:34s}{statistics.median(times):8.1f}{pct(times, 0.95):8.1f}{max(times):8.1f}"
        f"{len(times) / secs:8.0f}{size / 1024:9.0f}  {note}"
    )


async def bench(base: str, args: argparse.Namespace) -> bool:
    print(
        f"  {'(wall ms, ' + str(args.clients) + ' concurrent clients)':34s}"
        f"{'p50':>8s}{'p95':>8s}{'max':>8s}{'req/s':>8s}{'KiB':>9s}  target (KiB: as sent)"
    )
    ok = True
    results = {}
    for label, path, n, target in [
        ("OURS   /", "/", args.requests, True),
        ("OURS   /api/v1/top", "/api/v1/top", args.requests, True),
        ("NAIVE  /naive/top (GROUP BY)", "/naive/top", args.naive_requests, False),
        ("NAIVE  /uncached/top (no cache)", "/uncached/top", args.naive_requests, False),
        ("NAIVE  /naive/page (server table)", "/naive/page", args.naive_requests, False),
    ]:
        times, secs, size, failed = await load(base + path, args.clients, n)
        results[path] = times
        note = f"{failed} of {len(times)} failed" if failed else ""
        if target:
            passed = pct(times, 0.95) < TARGET_MS and not failed
            ok &= passed
            note = f"p95 < {TARGET_MS:.0f} ms: {'PASS' if passed else 'FAIL'}"
        print(line(label, times, secs, size, note), flush=True)
    ours_top = statistics.median(results["/api/v1/top"])
    for path in ("/naive/top", "/uncached/top"):
        ratio = statistics.median(results[path]) / ours_top
        print(f"  {path} vs /api/v1/top: x{ratio:.0f} slower (p50)")
    ratio = statistics.median(results["/naive/page"]) / statistics.median(results["/"])
    print(f"  /naive/page vs /: x{ratio:.0f} slower (p50)")
    return ok


async def prepare(db: Path, days: int, n_symbols: int) -> None:
    engine = create_engine(DatabaseSettings(url=f"sqlite+aiosqlite:///{db}"))
    await migrate(engine)
    await engine.dispose()
    n_cycles = days * CYCLES_PER_DAY
    build(db, Market(symbol_names(n_symbols), n_cycles, seed=11), n_cycles, 0, True)


def describe(db: Path) -> str:
    con = sqlite3.connect(db)
    try:
        cycles, symbols, rows = con.execute(
            "SELECT (SELECT count(*) FROM cycles), (SELECT count(*) FROM instruments),"
            " (SELECT count(*) FROM score_snapshots)"
        ).fetchone()
    finally:
        con.close()
    days = cycles / CYCLES_PER_DAY
    mb = db.stat().st_size / 1024 / 1024
    return f"{days:.0f} days x {symbols} symbols = {rows:,} snapshot rows ({mb:.0f} MB)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--symbols", type=int, default=600)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--naive-requests", type=int, default=60)
    parser.add_argument("--keep", action="store_true", help="keep the temp DB")
    parser.add_argument("--db", type=Path, help="reuse a DB kept by an earlier --keep run")
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--port-file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port_file)
        return 0
    workdir = Path(tempfile.mkdtemp(prefix="pb-web-bench-"))
    db = args.db or workdir / "web.db"
    print(f"Web dashboard benchmark in {workdir}\n  {machine()}", flush=True)
    t = time.perf_counter()
    if args.db is None:
        asyncio.run(prepare(db, args.days, args.symbols))
    print(f"  data: {describe(db)}, built in {time.perf_counter() - t:.0f} s", flush=True)
    port_file = workdir / "port"
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(db), "--port-file", str(port_file)]
    )
    try:
        deadline = time.monotonic() + 60
        while not port_file.exists() or not port_file.read_text():
            if server.poll() is not None or time.monotonic() > deadline:
                print("the server process did not start", file=sys.stderr)
                return 1
            time.sleep(0.1)
        ok = asyncio.run(bench(f"http://127.0.0.1:{port_file.read_text()}", args))
    finally:
        server.terminate()
        server.wait(10)
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    print(f"  load average after: {os.getloadavg()[0]:.1f}")
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
