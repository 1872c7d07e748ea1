"""Webhook mode in one process (SQLite: no election): the endpoint on the health server
refuses a wrong secret with 403 and never processes that update, answers 503 while the
bot is not running, and hands a valid update to PTB, which answers it."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.metrics import Metrics
from bot.telegram import updates
from bot.telegram.app import BotRuntime, start_bot
from bot.telegram.webhook import SECRET_HEADER, WebhookEndpoint
from bot.web.health_server import start_health_server
from fakes.fake_telegram import FakeTelegram
from fakes.ports import free_port

SECRET = "in-process_secret-1"
HOOK = "https://bot.example.test/tg/hook"


def webhook_settings(tg: FakeTelegram, db_url: str, port: int, secret: str) -> Settings:
    telegram = {
        "token": tg.token,
        "base_url": tg.base_url,
        "webhook_url": HOOK,
        "webhook_secret": secret,
    }
    return Settings(
        telegram=telegram,
        exchange={"venues": ["binance"]},
        database={"url": db_url},
        http={"port": port},
    )  # type: ignore[arg-type]


async def serve_bot(
    settings: Settings, sessions: async_sessionmaker[AsyncSession]
) -> tuple[web.AppRunner, BotRuntime]:
    endpoint = WebhookEndpoint(settings.telegram)
    runner = await start_health_server(settings, sessions, Metrics(), routes=[endpoint.route()])
    return runner, await start_bot(settings, sessions, webhook=endpoint)


async def test_webhook_endpoint_checks_the_secret_and_feeds_ptb(
    db_url: str,
    sessions: async_sessionmaker[AsyncSession],
    fake_tg: FakeTelegram,
) -> None:
    port = free_port()
    settings = webhook_settings(fake_tg, db_url, port, SECRET)
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


async def test_a_rotated_secret_is_registered_again_when_telegram_meets_403(
    db_url: str,
    sessions: async_sessionmaker[AsyncSession],
    fake_tg: FakeTelegram,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """getWebhookInfo never shows the secret: after a restart with a new one, Telegram
    keeps sending the old one until the lease holder sees its 403 errors and registers
    the webhook again. The update waiting at Telegram is then delivered and answered."""
    monkeypatch.setattr(updates, "WEBHOOK_CHECK_SECONDS", 0.3)  # 60 s in production
    port = free_port()
    fake_tg.deliver_webhook_to(f"http://127.0.0.1:{port}/tg/hook")
    runner, bot = await serve_bot(webhook_settings(fake_tg, db_url, port, "old-secret"), sessions)
    try:
        fake_tg.push_message(1, "/help")
        await fake_tg.wait_for_messages(1, 1)
    finally:
        await bot.stop()
        await runner.cleanup()
    runner, bot = await serve_bot(webhook_settings(fake_tg, db_url, port, "new-secret"), sessions)
    try:
        fake_tg.push_message(2, "/help")
        await fake_tg.wait_for_messages(2, 1, timeout=10)
    finally:
        await bot.stop()
        await runner.cleanup()
    assert fake_tg.webhook_failures >= 1  # Telegram met our 403 first
    assert fake_tg.webhook is not None and fake_tg.webhook["secret_token"] == "new-secret"
    assert fake_tg.calls["setWebhook"] == 2
    assert len(fake_tg.messages_to(2)) == 1
