"""Webhook mode in one process (SQLite: no election): the endpoint on the health server
refuses a wrong secret with 403 and never processes that update, answers 503 while the
bot is not running, and hands a valid update to PTB, which answers it."""

from __future__ import annotations

from typing import Any

import aiohttp
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.health import start_health_server
from bot.metrics import Metrics
from bot.telegram.app import start_bot
from bot.telegram.webhook import SECRET_HEADER, WebhookEndpoint
from tests.e2e.test_process_faults import free_port
from tests.fakes.fake_telegram import FakeTelegram

SECRET = "in-process_secret-1"


async def test_webhook_endpoint_checks_the_secret_and_feeds_ptb(
    db_url: str,
    sessions: async_sessionmaker[AsyncSession],
    fake_tg: FakeTelegram,
) -> None:
    port = free_port()
    telegram = {
        "token": fake_tg.token,
        "base_url": fake_tg.base_url,
        "webhook_url": "https://bot.example.test/tg/hook",
        "webhook_secret": SECRET,
    }
    settings = Settings(telegram=telegram, database={"url": db_url}, http={"port": port})  # type: ignore[arg-type]
    endpoint = WebhookEndpoint(settings.telegram)
    runner = await start_health_server(settings, sessions, Metrics(), routes=[endpoint.route()])
    url = f"http://127.0.0.1:{port}/tg/hook"

    async def post(update: dict[str, Any], secret: str | None = SECRET) -> int:
        headers = {SECRET_HEADER: secret} if secret is not None else {}
        async with (
            aiohttp.ClientSession() as http,
            http.post(url, json=update, headers=headers) as r,
        ):
            return r.status

    try:
        assert await post(fake_tg.message_update(1, "/help")) == 503  # bot not started yet
        bot = await start_bot(settings, sessions, webhook=endpoint)
        try:
            await fake_tg.wait_until(lambda: fake_tg.webhook is not None)
            assert fake_tg.webhook["secret_token"] == SECRET
            assert await post(fake_tg.message_update(66, "/start"), "wrong") == 403
            assert await post(fake_tg.message_update(66, "/start"), None) == 403
            assert await post(fake_tg.message_update(77, "/help")) == 200
            await fake_tg.wait_for_messages(77, 1)
            assert await post({"not": "an update"}) == 400
            assert await post([1, 2]) == 400  # type: ignore[arg-type]
        finally:
            await bot.stop()
        assert await post(fake_tg.message_update(78, "/help")) == 503  # stopped: elsewhere
    finally:
        await runner.cleanup()
    assert fake_tg.messages_to(66) == [] and fake_tg.messages_to(78) == []
    assert len(fake_tg.messages_to(77)) == 1
    assert endpoint.rejected == 2 and endpoint.accepted == 1
    assert fake_tg.calls["setWebhook"] == 1 and fake_tg.calls["getUpdates"] == 0
