"""Who receives Telegram's updates: exactly one replica, or every replica's webhook.

Telegram gives each update to one getUpdates poller (a second poller ends the first with
409 Conflict) or posts it to one webhook URL. With several replicas on one database:

- Polling (no `[telegram] webhook_url`): the replica holding the "updates" lease
  (bot/storage/leases.py) polls; the others stand by and start polling when they take
  the lease, and a holder that loses it stops. A clean stop ends polling before the
  lease is released, so the next holder never overlaps it.
- Webhook: every replica serves the webhook (bot/telegram/webhook.py); the lease holder
  only keeps the registration right (setWebhook when getWebhookInfo differs).

On SQLite one process owns the database (docs/operations.md), so there is no election:
the process is always the holder.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Protocol

from sqlalchemy import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from telegram.error import InvalidToken, TelegramError

from bot.config import Settings
from bot.storage.leases import UPDATES, LeaseKeeper
from bot.telegram.deps import BotApplication
from bot.telegram.webhook import WebhookEndpoint, ensure_webhook, leave_webhook

logger = logging.getLogger(__name__)

ALLOWED_UPDATES = ["message", "callback_query", "my_chat_member"]
# The lease holder re-reads getWebhookInfo this often (a secret rotated in the config
# shows up there only as Telegram's record of 403 answers).
WEBHOOK_CHECK_SECONDS = 60.0
RETRY_SECONDS = 5.0


class _Election(Protocol):
    async def wait_held(self) -> None: ...
    async def wait_lost(self) -> None: ...


class _Sole:
    """SQLite: the only process, always the holder."""

    async def wait_held(self) -> None:
        return None

    async def wait_lost(self) -> None:
        await asyncio.Event().wait()


# While polling keeps failing, at most one WARNING this often (PTB retries every few
# seconds, and the outbox worker already says "telegram unreachable" once per outage).
POLLING_WARN_EVERY = 600.0


class _PollingErrors:
    def __init__(self) -> None:
        self._warned_at: float | None = None

    def __call__(self, exc: TelegramError) -> None:
        """getUpdates failed (PTB retries with backoff). An outage is not a bug: one
        line with the cause, not PTB's default traceback per failed poll."""
        now = time.monotonic()
        loud = self._warned_at is None or now - self._warned_at >= POLLING_WARN_EVERY
        if loud:
            self._warned_at = now
        (logger.warning if loud else logger.debug)(
            "polling for updates failed: %s: %s", exc.__class__.__name__, exc
        )
        logger.debug("polling failure", exc_info=exc)


class UpdateReceiver:
    """Runs the election and follows it: polls, or keeps the webhook registered, while
    this replica holds the "updates" lease. `stop()` ends it all and releases the lease."""

    def __init__(
        self,
        app: BotApplication,
        settings: Settings,
        sessions: async_sessionmaker[AsyncSession],
        holder: str,
        endpoint: WebhookEndpoint | None = None,
    ) -> None:
        self.app = app
        self.settings = settings
        self.endpoint = endpoint
        self._stop = asyncio.Event()
        self._polling_errors = _PollingErrors()
        self._keeper: LeaseKeeper | None = None
        self._election: _Election = _Sole()
        if not make_url(settings.database.url).get_backend_name().startswith("sqlite"):
            self._keeper = LeaseKeeper(sessions, UPDATES, holder, settings.replica.lease_seconds)
            self._election = self._keeper
        self._tasks: list[asyncio.Task[None]] = []
        self._set_at = 0.0  # when this process last registered the webhook (epoch s)

    @property
    def webhook_mode(self) -> bool:
        return self.settings.telegram.webhook_url is not None

    @property
    def holds_updates(self) -> bool:
        return self._keeper is None or self._keeper.held

    async def start(self) -> None:
        """Without an election (SQLite) polling has started when this returns, and a
        failure to start it is raised here, as it was for the single process."""
        if self.endpoint is not None:
            self.endpoint.attach(self.app)
        polling_now = self._keeper is None and not self.webhook_mode
        if polling_now:
            await self._start_polling()
        if self._keeper is not None:
            run = self._keeper.run(self._stop)
            self._tasks.append(asyncio.create_task(run, name="updates-lease"))
        follow = self._follow(polling=polling_now)
        self._tasks.append(asyncio.create_task(follow, name="updates-receiver"))

    async def stop(self) -> None:
        """Refuse new webhook posts, stop polling, then release the lease (in that order:
        the next holder must not poll while this one still does)."""
        if self.endpoint is not None:
            self.endpoint.detach()
        follow = self._tasks[-1] if self._tasks else None
        if follow is not None:
            follow.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await follow
        await self._stop_polling()
        self._stop.set()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()

    async def _until_held(self) -> None:
        period = self.settings.replica.lease_seconds / 3
        while True:
            await self._election.wait_held()
            if self.holds_updates:
                return
            await asyncio.sleep(period)  # held on paper, but a renewal is overdue

    async def _follow(self, polling: bool) -> None:
        while True:
            await self._until_held()
            try:
                if self.webhook_mode:
                    await self._keep_webhook()
                else:
                    if not polling:
                        await self._start_polling()
                    polling = False
                    await self._poll_while_held()
            except InvalidToken:
                return  # AuthWatch has seen the 401; the service stops
            except TelegramError as exc:
                logger.warning(
                    "receiving updates: %s: %s; retrying in %.0fs",
                    type(exc).__name__,
                    exc,
                    RETRY_SECONDS,
                )
                await asyncio.sleep(RETRY_SECONDS)
            except Exception:  # a bug: say so, but never stop receiving for good
                logger.exception("receiving updates failed; retrying in %.0fs", RETRY_SECONDS)
                await asyncio.sleep(RETRY_SECONDS)

    async def _keep_webhook(self) -> None:
        """While held: register the webhook if Telegram has another, and look again
        now and then."""
        tg = self.settings.telegram
        lost = asyncio.create_task(self._until_lost())
        try:
            while not lost.done():
                asked = time.time()
                if await ensure_webhook(self.app.bot, tg, ALLOWED_UPDATES, self._set_at):
                    self._set_at = asked
                await asyncio.wait({lost}, timeout=WEBHOOK_CHECK_SECONDS)
        finally:
            lost.cancel()

    async def _start_polling(self) -> None:
        updater = self.app.updater
        assert updater is not None
        await leave_webhook(self.app.bot)
        await updater.start_polling(
            timeout=self.settings.telegram.poll_timeout_seconds,
            allowed_updates=ALLOWED_UPDATES,
            error_callback=self._polling_errors,
        )
        if self._keeper is not None:  # one process: nothing worth saying
            logger.info("receiving updates by polling")

    async def _until_lost(self) -> None:
        """The keeper says so at its next try; `held` also turns false once the lease
        may have run out (a renewal stuck on an unreachable database), so look at it
        too rather than keep polling against the new holder."""
        period = self.settings.replica.lease_seconds / 3
        while self.holds_updates:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._election.wait_lost(), timeout=period)
                return

    async def _poll_while_held(self) -> None:
        try:
            await self._until_lost()
            logger.info("stopped polling: another replica receives updates now")
        finally:
            await self._stop_polling()

    async def _stop_polling(self) -> None:
        updater = self.app.updater
        if updater is not None and updater.running:
            # A polling loop that ended on InvalidToken re-raises it here.
            with contextlib.suppress(InvalidToken):
                await updater.stop()
