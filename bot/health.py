"""`/healthz` and `/metrics` on a small aiohttp server (enabled by `[http] port`)."""

from __future__ import annotations

import json
import time

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.metrics import Metrics
from bot.storage import repo
from bot.storage.models import Delivery


async def start_health_server(
    settings: Settings, sessions: async_sessionmaker[AsyncSession], metrics: Metrics
) -> web.AppRunner:
    app = web.Application()
    app["settings"], app["sessions"], app["metrics"] = settings, sessions, metrics
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/metrics", _metrics)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, settings.http.host, settings.http.port).start()
    return runner


async def _healthz(request: web.Request) -> web.Response:
    settings: Settings = request.app["settings"]
    async with request.app["sessions"]() as session:
        cycle = await repo.latest_cycle(session, settings.exchange.name)
    limit = settings.scorer.interval_seconds * settings.http.stale_after_intervals
    age = None if cycle is None else time.time() - cycle.finished_ms / 1000
    healthy = age is not None and age <= max(limit, 60)
    body = {
        "status": "ok" if healthy else "stale",
        "last_cycle_id": None if cycle is None else cycle.id,
        "last_cycle_age_seconds": None if age is None else round(age, 1),
        "last_cycle_status": None if cycle is None else cycle.status,
    }
    return web.Response(
        status=200 if healthy else 503, text=json.dumps(body), content_type="application/json"
    )


async def _metrics(request: web.Request) -> web.Response:
    metrics: Metrics = request.app["metrics"]
    async with request.app["sessions"]() as session:
        rows = await session.execute(
            select(Delivery.status, func.count()).group_by(Delivery.status)
        )
        counts = dict(rows.all())
    for status in ("pending", "sent", "failed", "dropped", "suppressed"):
        metrics.deliveries.labels(status).set(counts.get(status, 0))
    return web.Response(
        body=generate_latest(metrics.registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
    )
