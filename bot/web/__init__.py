"""The web dashboard: the reference screen as a live page, one page per symbol, and the
JSON API they read, on the aiohttp server that already carries /healthz and /metrics
(bot/health.py). Read-only. README, "Web dashboard".

    add_dashboard(app, sessions, settings)   # before the app's runner is set up
"""

from __future__ import annotations

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.metrics import Metrics
from bot.web import api
from bot.web.data import DashboardData
from bot.web.pages import Pages
from bot.web.security import guarded


def add_dashboard(
    app: web.Application,
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    metrics: Metrics | None = None,
) -> None:
    """Register every dashboard route on `app`. Each one sits behind `[http]
    dashboard_token` when it is set; routes already on `app` are left as they are.
    `metrics` is accepted for the service's call site; the dashboard exports none yet."""
    del metrics
    secret = settings.http.dashboard_token
    token = secret.get_secret_value() if secret is not None else None
    app[api.DATA_KEY] = DashboardData(sessions, settings)
    pages = Pages(settings)
    routes = [
        ("/", pages.index),
        ("/symbol/{symbol}", pages.symbol),
        ("/static/{name}", pages.asset),
        ("/api/v1/latest", api.latest),
        ("/api/v1/top", api.top),
        ("/api/v1/symbol/{symbol}", api.symbol),
        ("/api/v1/openapi.json", api.openapi),
    ]
    for path, handler in routes:
        app.router.add_get(path, guarded(handler, token))
