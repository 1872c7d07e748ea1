"""The outbox worker's hand-off for a destination's group (docs/alerts.md,
"Destinations"): the same claim, outcome recording, retries and expiry as a Telegram
digest, a different sink at the end (freqtrade's RPC-manager fan-out, through the
outbox instead of beside it).

The group's rows are already claimed and loaded (`OutboxWorker._deliverable`: stale,
inactive or muted chat handled there). Here: the destination must still be active,
its URL and secret are decrypted, the message built (Discord: `render.discord_message`;
HTTPS: `bot.destinations.payload`), posted once through `SafeHttp`, and the verdict
recorded: sent; retried (the receiver's delay, else backoff; never counted); gone
(deactivated once, its pending rows dropped, the chat told); failed. Logs name the
destination by id and label (host and masked path), never its URL.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

from aiohttp.abc import AbstractResolver
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.destinations import discord, https_hook, payload
from bot.destinations.safe_http import SafeHttp
from bot.destinations.secret_box import SecretBox, SecretBoxError
from bot.destinations.sinks import SinkResult, Verdict
from bot.storage import destination_repo
from bot.storage.destination_repo import StoredDestination
from bot.storage.outbox_repo import AlertItem, ClaimedGroup
from bot.telegram import render
from bot.telegram.send_outcomes import DispatchStats, Outcomes
from bot.telegram.sender import Priority, Sender

logger = logging.getLogger("bot.telegram.outbox_worker")

KEY_MISSING_RETRY = 300.0  # seconds: no usable secret_key; the operator may fix the config


class DestinationSends:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        sender: Sender,
        settings: Settings,
        resolver: AbstractResolver | None,
        now_ms: Callable[[], int],
    ) -> None:
        self._sessions = sessions
        self._sender = sender
        self._box = SecretBox.from_settings(settings)
        self._quotes = tuple(settings.exchange.quote_assets)
        self.http = SafeHttp(settings.destinations, resolver)
        self.limits = discord.DiscordLimits()
        self._now_ms = now_ms
        self.results: list[tuple[int, SinkResult]] = []  # the last few, for /status & tests

    async def deliver(
        self,
        group: ClaimedGroup,
        items: Sequence[AlertItem],
        outcomes: Outcomes,
        stats: DispatchStats,
        abort: asyncio.Event,
    ) -> None:
        ids = group.delivery_ids
        async with self._sessions() as session:
            dest = await destination_repo.get(session, group.destination_id)
        if dest is None or not dest.active:
            await outcomes.drop(ids, "destination inactive")
            return
        if abort.is_set():  # stopping: never started, so nothing to count
            await outcomes.release(ids, undo_attempt=True)
            return
        result = await self.post(dest, items, payload.idempotency_key(ids))
        self._remember(dest.id, result)
        if result.verdict is Verdict.SENT:
            stats.messages += 1
            stats.delivered += len(ids)
            await outcomes.sent(ids)
        elif result.verdict is Verdict.RETRY:
            logger.info("destination %s (%s): %s; retrying", dest.id, dest.label, result.detail)
            await outcomes.retry_later(group, result.detail, result.delay)
        elif result.verdict is Verdict.GONE:
            await self._gone(dest, result)
            await outcomes.drop(ids, destination_repo.GONE_REASON)
        else:
            logger.warning("destination %s (%s): %s", dest.id, dest.label, result.detail)
            await outcomes.failed_with(ids, result.detail)

    async def post(
        self, dest: StoredDestination, items: Sequence[AlertItem], key: str, *, test: bool = False
    ) -> SinkResult:
        """One POST of `items` (or, with `test`, a test message) to `dest`."""
        if self._box is None:
            return SinkResult(
                Verdict.RETRY, "destinations.secret_key is not set", KEY_MISSING_RETRY
            )
        try:
            url = self._box.open(dest.url_enc)
            secret = self._box.open(dest.secret_enc) if dest.secret_enc else ""
        except SecretBoxError as exc:
            return SinkResult(Verdict.RETRY, str(exc), KEY_MISSING_RETRY)
        if dest.kind == "discord":
            message = (
                render.discord_test_message(dest.label)
                if test
                else render.discord_message(items, self._quotes)
            )
            return await discord.post(self.http, self.limits, dest.id, url, message)
        body = payload.body(items, key, self._now_ms(), test=test)
        return await https_hook.post(self.http, url, secret, body, key)

    async def _gone(self, dest: StoredDestination, result: SinkResult) -> None:
        async with self._sessions() as session, session.begin():
            first = await destination_repo.deactivate(session, dest.id, result.detail)
        if not first:
            return
        logger.warning("destination %s (%s) deactivated: %s", dest.id, dest.label, result.detail)
        try:  # a note, not an alert: a failure is logged, the chat sees it in /webhook list
            await self._sender.send_text(
                dest.chat_id,
                render.destination_deactivated(dest.kind, dest.label, result.detail),
                priority=Priority.BROADCAST,
            )
        except Exception as exc:
            logger.warning("telling chat %s its destination ended failed: %s", dest.chat_id, exc)

    def _remember(self, dest_id: int, result: SinkResult) -> None:
        self.results.append((dest_id, result))
        del self.results[:-100]

    async def close(self) -> None:
        await self.http.close()
