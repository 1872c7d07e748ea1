"""Answers the /subscribe requests kept before the market was loaded (docs/alerts.md).

On a fresh install the symbol list is empty for the whole first cycle, so /subscribe
cannot tell a real symbol from a typo: the request is stored
(`bot.views.pending_actions.keep`). After each new cycle the bot notices
(`MarketCache.on_new_cycle`, fed by the background poll and by every command), every
waiting request is matched against the market as /subscribe would match it: subscribed
with the same use-case and caps, or refused if the symbol does not exist. The row is
deleted in the transaction that acts on it, and only the process whose delete removed
it sends the one follow-up, through the same sender as command replies. The rows are in
the database, so a restart loses none: the first cycle the next process sees resolves
them. A request whose venue is still loading waits for a later cycle.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from sqlalchemy.exc import SQLAlchemyError
from telegram.error import TelegramError

from bot.telegram import render
from bot.telegram.deps import Deps
from bot.telegram.sender import Priority
from bot.telegram.symbols import resolve
from bot.telegram.venue_words import venue_universe
from bot.views import actions, pending_actions
from bot.views.actions import UserError
from bot.views.pending_actions import PendingRequest

logger = logging.getLogger(__name__)


class PendingResolver:
    def __init__(self, deps: Deps) -> None:
        self._deps = deps
        self._task: asyncio.Task[None] | None = None
        self._again = False  # a cycle landed while a run was going: run once more
        # Only a started bot (start_bot) resolves: an Application built and driven
        # without it (tests, tools) leaves no background work behind.
        self._running = False
        self.idle = asyncio.Event()
        self.idle.set()

    def start(self) -> None:
        self._running = True

    def schedule(self, cycle_id: int) -> None:
        """Resolve what is waiting, in the background (MarketCache.on_new_cycle)."""
        if not self._running:
            return
        if self._task is not None and not self._task.done():
            self._again = True
            return
        self.idle.clear()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="pending-subs")

    async def stop(self) -> None:
        self._running = False
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        try:
            while True:
                self._again = False
                for request in await pending_actions.waiting(self._deps):
                    await self._resolve(request)
                if not self._again:
                    break
        except SQLAlchemyError as exc:  # the rows stay: the next cycle tries again
            logger.warning("pending /subscribe requests not resolved yet: %s", exc)
        finally:
            self.idle.set()

    async def _resolve(self, request: PendingRequest) -> None:
        deps = self._deps
        venue = None if request.exchange == deps.exchange else request.exchange
        universe = await venue_universe(deps, venue)
        if not universe:
            return  # that venue has no cycle yet
        match = resolve(request.symbol, universe, deps.quotes)
        if match.symbol is None:
            if await pending_actions.refuse(deps, request.id):
                text = render.market_loaded_unknown(match.query, match.suggestions)
                await self._send(request.chat_id, text)
            return
        try:
            result = await actions.subscribe(
                deps,
                request.chat_id,
                match.symbol,
                request.kinds or None,
                venue,
                pending_id=request.id,
            )
        except UserError as error:
            if error.code == "already_resolved":
                return  # another process answered it
            text = render.user_error(error, "subscribe")
        else:
            text = render.market_loaded_subscribed(render.subscribe_result(result))
        await self._send(request.chat_id, text)

    async def _send(self, chat_id: int, text: str) -> None:
        try:
            await self._deps.sender.send_text(chat_id, text, priority=Priority.REPLY)
        except TelegramError as exc:  # an unreachable chat is recorded by the sender
            logger.warning("pending /subscribe answer to chat %s failed: %s", chat_id, exc)
