"""The Bot API client without update handling, for `pressurebot run --role worker`.

An outbox-only replica sends alerts but must not receive updates (another replica
does), so it builds the same Application as the bot (one sender, one flood-control
path: app.py) and only initializes it (getMe): no `start`, no polling, no webhook.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from telegram.error import InvalidToken, TelegramError

from bot.config import Settings
from bot.telegram.app import AuthWatch, build_application, quiet_token_loggers
from bot.telegram.deps import BotApplication, Deps
from bot.telegram.errors import BotStartError

logger = logging.getLogger(__name__)


@dataclass
class SenderRuntime:
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

    async def stop(self) -> None:
        """Stop the outbox worker first: it sends through this bot."""
        with contextlib.suppress(Exception):
            await self.application.shutdown()


async def start_sender(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    *,
    on_sent: Callable[[float], None] | None = None,
) -> SenderRuntime:
    """The bot's sender, checked against Telegram (getMe); receives no updates."""
    quiet_token_loggers()
    app = build_application(settings, sessions, on_sent=on_sent)
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
    logger.info("telegram sender @%s ready (outbox only: no updates)", app.bot.username)
    return SenderRuntime(app)
