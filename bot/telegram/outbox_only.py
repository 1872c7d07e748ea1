"""The Bot API client without update handling, for `pressurebot run --role worker`.

An outbox-only replica sends alerts but must not receive updates (another replica
does), so it builds the same Application as the bot (one sender, one flood-control
path: app.py) and only initializes it (getMe): no `start`, no polling, no webhook.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.telegram.app import (
    TelegramRuntime,
    build_application,
    initialize,
    quiet_token_loggers,
)

logger = logging.getLogger(__name__)


@dataclass
class SenderRuntime(TelegramRuntime):
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
    await initialize(app, settings)
    logger.info("telegram sender @%s ready (outbox only: no updates)", app.bot.username)
    return SenderRuntime(app)
