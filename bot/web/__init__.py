"""The web dashboard: the reference screen as a live page, one page per symbol, and the
JSON API they read, on the aiohttp server that already carries /healthz and /metrics
(bot/web/health_server.py). Read-only. README, "Web dashboard".

Either hand the routes to the health server (`start_health_server(..., routes=...)`) or
add them to an app before its runner is set up (`add_dashboard`).
"""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.metrics import Metrics
from bot.views.builtin_rules import BuiltinEvidence
from bot.views.lookalike import StateLibrary
from bot.web.api import Api
from bot.web.data import DashboardData
from bot.web.pages import Pages
from bot.web.security import guarded, install_security_headers

# Any character but "/" in a symbol: aiohttp's default pattern also refuses "{" and "}",
# which exchange names may hold (the links URL-encode them, the router decodes them).
SYMBOL = "{symbol:[^/]+}"


def dashboard_routes(
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    evidence: BuiltinEvidence | None = None,
    lookalikes: Callable[[], StateLibrary | None] | None = None,
) -> list[web.RouteDef]:
    """Every dashboard route, each behind `[http] dashboard_token` when it is set. The
    routes hold their own state (caches), so they leave the app's keys alone."""
    secret = settings.http.dashboard_token
    token = secret.get_secret_value() if secret is not None else None
    data = DashboardData(sessions, settings, lookalikes)
    api = Api(data)
    pages = Pages(settings, data, evidence)
    handlers = [
        ("/", pages.index),
        (f"/symbol/{SYMBOL}", pages.symbol),
        ("/rules", pages.rules),
        ("/static/{name:.+}", pages.asset),
        ("/api/v1/latest", api.latest),
        ("/api/v1/top", api.top),
        (f"/api/v1/symbol/{SYMBOL}", api.symbol),
        ("/api/v1/openapi.json", api.openapi),
    ]
    trusted = settings.http.trusted_proxies
    return [web.get(path, guarded(handler, token, trusted)) for path, handler in handlers]


def add_dashboard(
    app: web.Application,
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    metrics: Metrics | None = None,
) -> None:
    """Register every dashboard route on `app`, beside the routes already there.
    `metrics` is accepted for the service's call site; the dashboard exports none yet."""
    del metrics
    install_security_headers(app)
    app.router.add_routes(dashboard_routes(sessions, settings))
