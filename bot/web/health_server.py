"""`/healthz` and `/metrics` on a small aiohttp server (enabled by `[http] port`).

The same server carries the dashboard and, in webhook mode, the Telegram webhook; what
/healthz reports comes from `bot.health.HealthState` and the database.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.alerts.types import DeliveryStatus
from bot.config import ConfigError, Settings
from bot.cycle.freshness import is_stale_errors
from bot.health import HealthState
from bot.metrics import Metrics
from bot.replica import Replica
from bot.storage import leases, market_repo, outbox_repo
from bot.web.security import install_security_headers

logger = logging.getLogger("bot.health")

# What the two handlers read from their app: typed keys (aiohttp's AppKey), so the
# handlers need no casts and aiohttp does not warn about bare string keys.
SETTINGS = web.AppKey("settings", Settings)
SESSIONS = web.AppKey("sessions", async_sessionmaker[AsyncSession])
METRICS = web.AppKey("metrics", Metrics)
REPLICA = web.AppKey("replica", Replica)
HEALTH = web.AppKey("health", HealthState)


class HealthServerError(ConfigError):
    """The health port cannot be served; one line naming the key (exit 2)."""


async def start_health_server(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    metrics: Metrics,
    health: HealthState | None = None,
    replica: Replica | None = None,
    routes: Sequence[web.RouteDef] = (),
) -> web.AppRunner:
    """`routes`: more to serve on the same port (the Telegram webhook in webhook mode)."""
    app = web.Application()
    # One set of security headers on every answer: the dashboard's, the framework's own
    # 404/405, /healthz, /metrics and the webhook alike.
    install_security_headers(app)
    app[SETTINGS], app[SESSIONS], app[METRICS] = settings, sessions, metrics
    app[REPLICA] = replica or Replica("local")
    app[HEALTH] = health or HealthState()
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/metrics", _metrics)
    app.router.add_routes(routes)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    host, port = settings.http.host, settings.http.port
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError as exc:
        await runner.cleanup()
        raise HealthServerError(
            f"http.port {port} on {host} cannot be served: {exc.strerror or exc}"
        ) from None
    return runner


async def _healthz(request: web.Request) -> web.Response:
    """Healthy: no open problem and, on the replica that scores, a fresh last cycle.

    A replica standing by (another holds a live scorer lease) or one whose role does
    not score is healthy whatever the cycle's age: restarting it would not make the
    scorer score. A scorer-role replica while nobody holds the lease counts as the
    scorer (one of them takes it within a third of the lease)."""
    settings = request.app[SETTINGS]
    health = request.app[HEALTH]
    replica = request.app[REPLICA]
    problems = list(health.problems.values())
    cycle, lease, stale = None, None, []
    try:
        async with request.app[SESSIONS]() as session:
            cycle = await market_repo.latest_cycle(session, settings.exchange.default_view)
            lease = await leases.current(session, leases.SCORER)
            stale = await _stale_venues(session, settings.exchange.venues)
    except SQLAlchemyError as exc:
        problems.append(f"database unreadable: {str(getattr(exc, 'orig', exc)).splitlines()[0]}")
    limit = settings.scorer.interval_seconds * settings.http.stale_after_intervals
    age = None if cycle is None else time.time() - cycle.finished_ms / 1000
    held_elsewhere = lease is not None and lease.live and lease.holder != replica.name
    accountable = replica.runs_scorer and not held_elsewhere
    fresh = not accountable or (age is not None and age <= max(limit, 60))
    healthy = fresh and not problems
    body = {
        "status": "ok" if healthy else ("unhealthy" if problems else "stale"),
        "replica": replica.name,
        "role": replica.role,
        "scoring": replica.runs_scorer and lease is not None and lease.live and not held_elsewhere,
        "scorer_lease": _lease_json(lease),
        "last_cycle_id": None if cycle is None else cycle.id,
        "last_cycle_age_seconds": None if age is None else round(age, 1),
        "last_cycle_status": None if cycle is None else cycle.status,
        # Venues whose last cycle got open interest whose exchange time had not moved:
        # not scored, no alerts (docs/scoring.md, "Stale data"). Not a reason to restart.
        "stale_venues": stale,
        "problems": problems,
    }
    return web.Response(
        status=200 if healthy else 503, text=json.dumps(body), content_type="application/json"
    )


async def _stale_venues(session: AsyncSession, venues: Sequence[str]) -> list[str]:
    out = []
    for venue in venues:
        cycle = await market_repo.last_attempted_cycle(session, venue)
        if cycle is not None and is_stale_errors(cycle.errors):
            out.append(venue)
    return out


def _lease_json(lease: leases.LeaseInfo | None) -> dict[str, object] | None:
    """Who holds the scorer lease and for how long yet; None if nobody ever held it."""
    if lease is None:
        return None
    return {
        "holder": lease.holder if lease.live else None,
        "last_holder": lease.holder,
        "expires_in_seconds": round(lease.expires_in_seconds, 1),
    }


async def _metrics(request: web.Request) -> web.Response:
    metrics = request.app[METRICS]
    async with request.app[SESSIONS]() as session:
        counts = await outbox_repo.delivery_counts(session)
    for status in DeliveryStatus:
        metrics.deliveries.labels(status.value).set(counts.get(status, 0))
    return web.Response(
        body=generate_latest(metrics.registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
    )
