"""Build the PTB Application, register handlers, and run it inside the caller's loop.

The service (bot/service.py) calls `start_bot(settings, sessions)` and later
`await runtime.stop()`; it builds and starts the outbox worker itself, on
`runtime.deps.sender`. No `run_polling`: the scorer owns the loop (initialize / start,
and back down). Who receives updates (the elected poller, or every replica's webhook) is
bot/telegram/updates.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import httpx
from sqlalchemy import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from telegram import Update
from telegram.error import InvalidToken, TelegramError
from telegram.ext import (
    ApplicationBuilder,
    CallbackQueryHandler,
    ChatMemberHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)
from telegram.request import HTTPXRequest

from bot.config import Settings, TelegramSettings
from bot.replica import replica_name
from bot.telegram import callbacks, commands, membership
from bot.telegram.chart_prerender import ChartPrerenderer
from bot.telegram.charts import ChartCache
from bot.telegram.chat_events import ChatStore
from bot.telegram.command_table import COMMANDS, publish_menus
from bot.telegram.deps import BotApplication, BotContext, Deps
from bot.telegram.errors import BotStartError
from bot.telegram.outbox_worker import default_in_flight
from bot.telegram.pace import broadcast_rate
from bot.telegram.pending_resolver import PendingResolver
from bot.telegram.rate_limits import CommandLimiter, Limiter, SharedCommandLimiter
from bot.telegram.sender import Sender
from bot.telegram.updates import ALLOWED_UPDATES, UpdateReceiver
from bot.telegram.webhook import WebhookEndpoint
from bot.views.market_cache import MarketCache

__all__ = [
    "ALLOWED_UPDATES",
    "BotRuntime",
    "TelegramRuntime",
    "build_application",
    "initialize",
    "start_bot",
]

logger = logging.getLogger(__name__)


class AuthWatch:
    """Set on the first 401 from any Bot API method. PTB's polling loop ends for good
    on InvalidToken without calling `error_callback`, so the HTTP layer is the one place
    that sees it in time."""

    def __init__(self) -> None:
        self.failed = asyncio.Event()

    def unauthorized(self) -> None:
        if not self.failed.is_set():
            self.failed.set()


class _AuthWatchingRequest(HTTPXRequest):
    def __init__(self, watch: AuthWatch, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._watch = watch

    async def do_request(self, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        code, payload = await super().do_request(*args, **kwargs)
        if code == HTTPStatus.UNAUTHORIZED:
            self._watch.unauthorized()
        if code >= HTTPStatus.BAD_REQUEST and not payload.lstrip().startswith(b"{"):
            # Telegram's front end answers an outage with an HTML page (nginx's 502):
            # PTB would log an ERROR and a traceback per call, and quote the page in
            # its error. The status alone says it; the outbox logs it once per outage.
            described = {"ok": False, "error_code": code, "description": _status_text(code)}
            payload = json.dumps(described).encode()
        return code, payload

    @staticmethod
    def parse_json_payload(payload: bytes) -> dict[str, Any]:
        """PTB's, without its ERROR line and traceback: the error raised says it."""
        try:
            data = json.loads(payload.decode("utf-8", "replace"))
        except ValueError:
            raise TelegramError("Invalid server response (not JSON)") from None
        if not isinstance(data, dict):
            raise TelegramError("Invalid server response (not a JSON object)")
        return data


def _status_text(code: int) -> str:
    try:
        return f"{HTTPStatus(code).phrase} ({code}), a non-JSON page from Telegram's front end"
    except ValueError:
        return f"HTTP {code}, a non-JSON page from Telegram's front end"


class _DropInvalidTokenTracebacks(logging.Filter):
    """PTB logs InvalidToken with a traceback (polling loop, shutdown get_updates); the
    service reports it in one line instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, InvalidToken)


def quiet_token_loggers() -> None:
    """httpx logs every request URL, which contains the token, at INFO."""
    for name in ("httpx", "httpcore"):
        log = logging.getLogger(name)
        if log.getEffectiveLevel() < logging.WARNING:
            log.setLevel(logging.WARNING)
    for name in ("telegram.ext", "telegram.ext.Updater"):
        log = logging.getLogger(name)
        if not any(isinstance(f, _DropInvalidTokenTracebacks) for f in log.filters):
            log.addFilter(_DropInvalidTokenTracebacks())


def _requests(tg: TelegramSettings, watch: AuthWatch) -> tuple[HTTPXRequest, HTTPXRequest]:
    """The Bot API clients: one for the methods, one for getUpdates' long poll."""
    tls = {"verify": _tls_context()}
    methods = _AuthWatchingRequest(
        watch,
        connection_pool_size=_pool_size(tg),
        read_timeout=10.0,
        write_timeout=20.0,
        pool_timeout=5.0,
        httpx_kwargs=tls,
    )
    updates = _AuthWatchingRequest(
        watch, connection_pool_size=2, read_timeout=10.0, httpx_kwargs=tls
    )
    return methods, updates


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """One TLS context for every Bot API client in the process, built as httpx builds
    its own (certifi's CA bundle, SSL_CERT_FILE honoured): loading the bundle costs
    ~30 ms of CPU, and PTB's two request objects would each load it, per Application."""
    return httpx.create_ssl_context()


def _pool_size(tg: TelegramSettings) -> int:
    """Room for the outbox's in-flight window (250 with paid broadcast) plus replies: a
    send waiting for a connection is a send not yet paced out."""
    return max(64, default_in_flight(broadcast_rate(tg)) + 32)


def build_application(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    *,
    concurrent_updates: int = 64,
    on_sent: Callable[[float], None] | None = None,
) -> BotApplication:
    tg = settings.telegram
    if tg.token is None:
        raise BotStartError("no Telegram token configured")
    watch = AuthWatch()
    requests, updates_requests = _requests(tg, watch)
    app = (
        ApplicationBuilder()
        .context_types(ContextTypes(context=BotContext))
        .token(tg.token.get_secret_value())
        .base_url(tg.base_url)
        .request(requests)
        .get_updates_request(updates_requests)
        .concurrent_updates(concurrent_updates)
        .job_queue(None)
        .build()
    )
    limiter, chat_limiter = _limiters(settings, sessions)
    chats = ChatStore(sessions)
    sender = Sender(app.bot, tg, events=chats, on_sent=on_sent)
    view = settings.exchange.default_view
    market = MarketCache(sessions, view, cycle_ttl=tg.latest_cycle_cache_seconds)
    deps = Deps(
        settings=settings,
        sessions=sessions,
        sender=sender,
        chats=chats,
        limiter=limiter,
        chat_limiter=chat_limiter,
        market=market,
        # Room for the charts drawn on request; the pre-renderer reserves its own.
        charts=ChartCache(size=64),
    )
    prerender = _chart_prerenderer(deps, view)
    pending = PendingResolver(deps)

    def on_new_cycle(cycle_id: int) -> None:
        prerender.schedule(cycle_id)
        pending.schedule(cycle_id)

    market.on_new_cycle = on_new_cycle
    app.bot_data["deps"] = deps
    app.bot_data["chart_prerender"] = prerender
    app.bot_data["pending_resolver"] = pending
    app.bot_data["auth_watch"] = watch
    register_handlers(app)
    return app


def _chart_prerenderer(deps: Deps, view: str) -> ChartPrerenderer:
    """Draws the charts users open after each cycle (README, Performance)."""
    tg = deps.settings.telegram
    return ChartPrerenderer(
        deps.sessions,
        deps.market,
        deps.charts,
        view,
        hours=deps.chart_hours,
        limit=tg.chart_prerender_symbols,
        top=tg.chart_prerender_top,
        viewed_hours=tg.chart_prerender_viewed_hours,
        liquidations=deps.settings.liquidations.enabled,
    )


def _limiters(
    settings: Settings, sessions: async_sessionmaker[AsyncSession]
) -> tuple[Limiter, Limiter]:
    """Per user and per group. On PostgreSQL several replicas may answer one user's
    commands, so the counts are shared in the database; SQLite has one process, and
    keeps them in memory (no database round trip per command)."""
    tg = settings.telegram
    if make_url(settings.database.url).get_backend_name().startswith("sqlite"):
        return (
            CommandLimiter(tg.commands_per_minute),
            CommandLimiter(tg.group_commands_per_minute, notice_interval=60.0),
        )
    return (
        SharedCommandLimiter(sessions, "user", tg.commands_per_minute),
        SharedCommandLimiter(sessions, "group", tg.group_commands_per_minute),
    )


def register_handlers(app: BotApplication) -> None:
    app.add_handler(TypeHandler(Update, commands.gatekeeper), group=-1)
    for command in COMMANDS:
        app.add_handler(CommandHandler(command.name, command.handler))
    app.add_handler(CallbackQueryHandler(callbacks.on_button))
    app.add_handler(
        ChatMemberHandler(membership.on_my_chat_member, ChatMemberHandler.MY_CHAT_MEMBER)
    )
    app.add_handler(MessageHandler(filters.StatusUpdate.MIGRATE, membership.on_migrate))
    app.add_handler(MessageHandler(filters.COMMAND, commands.unknown_command))
    app.add_handler(
        MessageHandler(
            filters.TEXT & ~filters.COMMAND & filters.ChatType.PRIVATE, commands.plain_text
        )
    )
    app.add_error_handler(commands.on_error)


@dataclass
class TelegramRuntime:
    """What the service reads from a started bot or sender (outbox_only.py)."""

    application: BotApplication

    @property
    def deps(self) -> Deps:
        deps: Deps = self.application.bot_data["deps"]
        return deps

    @property
    def auth_failed(self) -> asyncio.Event:
        """Set when Telegram answered 401: the token no longer works."""
        watch: AuthWatch = self.application.bot_data["auth_watch"]
        return watch.failed


async def initialize(app: BotApplication, settings: Settings) -> None:
    """getMe, or BotStartError in one line: a rejected token, or the Bot API unreachable."""
    try:
        await app.initialize()
    except TelegramError as exc:
        with contextlib.suppress(Exception):
            await app.bot.shutdown()
        if isinstance(exc, InvalidToken):
            raise BotStartError("Telegram rejected the bot token; check telegram.token") from None
        raise BotStartError(
            f"cannot reach the Telegram Bot API at {settings.telegram.base_url}: {exc}"
        ) from None


@dataclass
class BotRuntime(TelegramRuntime):
    _poll: asyncio.Task[None]
    receiver: UpdateReceiver

    @property
    def chart_prerender(self) -> ChartPrerenderer:
        prerender: ChartPrerenderer = self.application.bot_data["chart_prerender"]
        return prerender

    @property
    def pending_resolver(self) -> PendingResolver:
        pending: PendingResolver = self.application.bot_data["pending_resolver"]
        return pending

    async def stop(self) -> None:
        """Updates (webhook refused, polling stopped, lease released), then PTB, which
        still handles what was already received; idempotent. Stop the outbox worker
        first: it sends through this bot."""
        await self.receiver.stop()
        self._poll.cancel()
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await self._poll
        await self.chart_prerender.stop()
        await self.pending_resolver.stop()
        app = self.application
        if app.running:
            await app.stop()
        await app.shutdown()


async def start_bot(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    *,
    on_sent: Callable[[float], None] | None = None,
    webhook: WebhookEndpoint | None = None,
    holder: str | None = None,
) -> BotRuntime:
    """PTB started and receiving updates (bot/telegram/updates.py); `on_sent` gets each
    Bot API call's latency (seconds). `webhook`: the endpoint the health server serves
    in webhook mode; `holder`: this replica's name in the "updates" lease."""
    quiet_token_loggers()
    app = build_application(settings, sessions, on_sent=on_sent)
    await initialize(app, settings)
    await publish_menus(app.bot, settings.telegram.admin_ids)
    await app.start()
    receiver = UpdateReceiver(app, settings, sessions, holder or replica_name(settings), webhook)
    try:
        await receiver.start()
    except BaseException:
        await receiver.stop()
        await app.stop()
        await app.shutdown()
        raise
    prerender: ChartPrerenderer = app.bot_data["chart_prerender"]
    pending: PendingResolver = app.bot_data["pending_resolver"]
    pending.start()  # before the poll: its first look may already find a cycle
    poll = asyncio.create_task(prerender.poll(), name="chart-prerender-poll")
    logger.info("telegram bot @%s started", app.bot.username)
    return BotRuntime(app, poll, receiver)
