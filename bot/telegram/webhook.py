"""Webhook mode: Telegram posts each update to `[telegram] webhook_url`, a load balancer
hands it to any replica, and that replica's PTB Application processes it.

- `WebhookEndpoint` is the aiohttp handler every replica serves at the URL's path on the
  health server (bot/health.py, `[http] port`). It checks the secret token header in
  constant time; a wrong or missing one is 403 and the body is never read. A valid
  update goes on `Application.update_queue` and is answered 200 at once (PTB's handlers
  run concurrently; Telegram only waits for the 200). While the bot is not running
  (starting, stopping) it answers 503 so the load balancer, or Telegram, tries again.
- `ensure_webhook` is what the replica holding the "updates" lease runs
  (bot/telegram/updates.py): setWebhook only when getWebhookInfo shows something else,
  so a rolling restart does not re-register it N times.

docs/operations.md, "Webhook mode behind a load balancer", has the operator's side.
"""

from __future__ import annotations

import hmac
import logging
import time
from urllib.parse import urlsplit

from aiohttp import web
from telegram import Bot, Update, WebhookInfo

from bot.config import TelegramSettings
from bot.telegram.deps import BotApplication

logger = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# A secret changed in the config is invisible in getWebhookInfo (Telegram never returns
# it); Telegram's own record of 403 answers from us within this window is the sign that
# it still sends the old one, so the lease holder registers the webhook again.
SECRET_MISMATCH_WINDOW_SECONDS = 600.0
REJECT_LOG_SECONDS = 60.0


def webhook_path(url: str) -> str:
    return urlsplit(url).path


class WebhookEndpoint:
    """The route every replica serves in webhook mode; attached to the running bot."""

    def __init__(self, settings: TelegramSettings) -> None:
        if settings.webhook_url is None or settings.webhook_secret is None:
            raise ValueError("webhook mode needs telegram.webhook_url and webhook_secret")
        self.path = webhook_path(settings.webhook_url)
        self._secret = settings.webhook_secret.get_secret_value().encode()
        self._app: BotApplication | None = None
        self.accepted = 0
        self.rejected = 0
        self._reject_logged = 0.0

    def route(self) -> web.RouteDef:
        return web.post(self.path, self.handle)

    def attach(self, app: BotApplication) -> None:
        self._app = app

    def detach(self) -> None:
        """From here on updates are refused with 503, before PTB stops: what was
        accepted is still in its queue and is processed by `Application.stop`."""
        self._app = None

    async def handle(self, request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "").encode("utf-8", "replace")
        if not hmac.compare_digest(given, self._secret):
            self._log_rejected(request)
            return web.Response(status=403, text="forbidden")
        app = self._app
        if app is None or not app.running:
            return web.Response(
                status=503, text="not receiving updates", headers={"Retry-After": "1"}
            )
        try:
            data = await request.json()
            if not isinstance(data, dict):
                raise TypeError("not an object")
            update = Update.de_json(data, app.bot)
        except (ValueError, TypeError, KeyError, AttributeError):
            logger.warning("webhook: a request with a valid secret but no readable update")
            return web.Response(status=400, text="not an update")
        await app.update_queue.put(update)
        self.accepted += 1
        return web.Response(status=200)

    def _log_rejected(self, request: web.Request) -> None:
        """One line a minute at most: a scanner must not fill the log. The header's value
        is never logged (it might be a mistyped real secret)."""
        self.rejected += 1
        now = time.monotonic()
        if now - self._reject_logged >= REJECT_LOG_SECONDS or self.rejected == 1:
            self._reject_logged = now
            logger.warning(
                "webhook: refused a request from %s with a wrong or missing secret token "
                "(%d refused so far)",
                request.remote,
                self.rejected,
            )


def _secret_rejected(info: WebhookInfo, now: float, since: float) -> bool:
    """Telegram's last delivery error is a 403 from us, recent, and newer than our own
    last setWebhook (`since`, epoch seconds): the secret it sends is not ours."""
    message = info.last_error_message or ""
    when = info.last_error_date.timestamp() if info.last_error_date is not None else None
    return (
        "403" in message
        and when is not None
        and when >= int(since)  # Telegram's dates are whole seconds
        and now - when < SECRET_MISMATCH_WINDOW_SECONDS
    )


def webhook_differs(
    info: WebhookInfo, url: str, allowed: list[str], now: float, since: float = 0.0
) -> str | None:
    """Why the registered webhook is not ours, or None when it is."""
    if info.url != url:
        return "not set" if not info.url else "set to another URL"
    if sorted(info.allowed_updates or []) != sorted(allowed):
        return "allowed updates differ"
    if _secret_rejected(info, now, since):
        return "Telegram reports 403 answers: the secret token changed"
    return None


async def ensure_webhook(
    bot: Bot, settings: TelegramSettings, allowed: list[str], since: float = 0.0
) -> bool:
    """Register our webhook unless Telegram already has it; True when it was set now.
    `since`: when this process last set it (errors from before are old news). Never
    logs the URL (its path may itself be secret) or the token."""
    assert settings.webhook_url is not None and settings.webhook_secret is not None
    info = await bot.get_webhook_info()
    why = webhook_differs(info, settings.webhook_url, allowed, time.time(), since)
    if why is None:
        return False
    await bot.set_webhook(
        url=settings.webhook_url,
        secret_token=settings.webhook_secret.get_secret_value(),
        allowed_updates=allowed,
    )
    host = urlsplit(settings.webhook_url).hostname
    logger.info("webhook registered with Telegram for %s (%s)", host, why)
    return True


async def leave_webhook(bot: Bot) -> None:
    """Polling mode: a webhook left from webhook mode makes getUpdates fail with 409.
    PTB's start_polling deletes it too; this says so in the log."""
    info = await bot.get_webhook_info()
    if info.url:
        logger.info("switching to polling: deleting the webhook Telegram still has")
        await bot.delete_webhook()
