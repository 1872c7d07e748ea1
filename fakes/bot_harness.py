"""The bot and its outbox worker started as bot/service.py starts them, for tests and
benches that drive the real PTB Application against the fake Bot API."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.service import outbox_running
from bot.telegram.app import BotRuntime, start_bot
from bot.telegram.outbox_worker import OutboxWorker


@dataclass
class BotWithWorker:
    """The bot and its outbox worker, started as bot/service.py starts them."""

    bot: BotRuntime
    outbox_worker: OutboxWorker
    _stack: contextlib.AsyncExitStack

    def __getattr__(self, name: str) -> Any:
        return getattr(self.bot, name)

    def notify(self) -> None:
        self.outbox_worker.notify()

    async def stop(self) -> None:
        """The worker first (it sends through the bot), then the bot; idempotent."""
        await self._stack.aclose()


async def start_bot_with_worker(
    settings: Settings, sessions: async_sessionmaker[AsyncSession], **worker_options: Any
) -> BotWithWorker:
    stack = contextlib.AsyncExitStack()
    bot = await start_bot(settings, sessions)
    stack.push_async_callback(bot.stop)
    worker = OutboxWorker(sessions, bot.deps.sender, settings, **worker_options)
    await stack.enter_async_context(outbox_running(worker))
    return BotWithWorker(bot, worker, stack)
