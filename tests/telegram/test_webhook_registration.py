"""setWebhook only when Telegram has something else (bot/telegram/webhook.py): restarts do
not re-register it, a changed secret does (seen as Telegram's 403 delivery errors)."""

from __future__ import annotations

import time

from pydantic import SecretStr
from telegram import Bot

from bot.config import TelegramSettings
from bot.telegram.updates import ALLOWED_UPDATES
from bot.telegram.webhook import ensure_webhook, leave_webhook
from fakes.fake_telegram import FakeTelegram

URL = "https://bot.example.test/telegram/webhook"


def _settings(secret: str = "first-secret") -> TelegramSettings:
    return TelegramSettings(webhook_url=URL, webhook_secret=SecretStr(secret))


async def test_set_once_then_left_alone_and_set_again_after_a_secret_change() -> None:
    async with FakeTelegram() as tg, Bot(tg.token, base_url=tg.base_url) as bot:
        assert await ensure_webhook(bot, _settings(), ALLOWED_UPDATES)
        assert tg.webhook is not None and tg.webhook["secret_token"] == "first-secret"
        assert sorted(tg.webhook["allowed_updates"]) == sorted(ALLOWED_UPDATES)
        set_at = time.time()
        for _ in range(3):  # a rolling restart: every new lease holder looks
            assert not await ensure_webhook(bot, _settings(), ALLOWED_UPDATES)
        assert tg.calls["setWebhook"] == 1

        # The operator changed the secret; Telegram still sends the old one and records
        # our 403 answers.
        tg.webhook_error = (int(time.time()), "Wrong response from the webhook: 403 Forbidden")
        assert await ensure_webhook(bot, _settings("second-secret"), ALLOWED_UPDATES, set_at)
        assert tg.webhook["secret_token"] == "second-secret"
        # The error stays in getWebhookInfo for a while; it predates our setWebhook.
        again = time.time() + 1
        assert not await ensure_webhook(bot, _settings("second-secret"), ALLOWED_UPDATES, again)
        assert tg.calls["setWebhook"] == 2


async def test_other_allowed_updates_or_url_are_re_registered_and_polling_deletes_it() -> None:
    async with FakeTelegram() as tg, Bot(tg.token, base_url=tg.base_url) as bot:
        await bot.set_webhook(URL, secret_token="x", allowed_updates=["message"])
        assert await ensure_webhook(bot, _settings(), ALLOWED_UPDATES)
        await bot.set_webhook("https://elsewhere.test/hook", secret_token="x")
        assert await ensure_webhook(bot, _settings(), ALLOWED_UPDATES)
        await leave_webhook(bot)  # back to polling
        assert tg.webhook is None
        await leave_webhook(bot)  # nothing to delete: no call
        assert tg.calls["deleteWebhook"] == 1
