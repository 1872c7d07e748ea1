"""The fake Bot API is as strict as Telegram about who receives updates: one getUpdates
poller at a time, and none while a webhook is set (fakes/fake_telegram.py)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import aiohttp

from fakes.fake_telegram import FakeTelegram


async def _call(
    http: aiohttp.ClientSession, tg: FakeTelegram, tag: str, method: str, **params: Any
) -> tuple[int, dict[str, Any]]:
    url = f"{tg.base_url_for(tag)}{tg.token}/{method}"
    async with http.post(url, json=params) as resp:
        return resp.status, await resp.json()


async def test_a_second_poller_terminates_the_first_with_409() -> None:
    async with FakeTelegram() as tg, aiohttp.ClientSession() as http:
        first = asyncio.create_task(_call(http, tg, "a", "getUpdates", timeout=5))
        await tg.wait_until(lambda: tg.pollers["a"] == 1)
        second = asyncio.create_task(_call(http, tg, "b", "getUpdates", timeout=5))
        status, body = await asyncio.wait_for(first, 2)
        assert status == 409
        assert body["description"] == (
            "Conflict: terminated by other getUpdates request; "
            "make sure that only one bot instance is running"
        )
        tg.push_message(7, "/help")
        status, body = await asyncio.wait_for(second, 2)
        assert status == 200 and len(body["result"]) == 1
        assert tg.conflicts == 1 and set(tg.pollers) == {"a", "b"}


async def test_a_poll_its_client_gave_up_on_ends_without_a_conflict_anyone_receives() -> None:
    """PTB's Updater.stop() cancels its long poll, then calls getUpdates once more to
    confirm the offset. Telegram ends the abandoned poll with a 409 that reaches nobody:
    not a conflict the bot meets, so not counted as one."""
    async with FakeTelegram() as tg, aiohttp.ClientSession() as http:
        abandoned = asyncio.create_task(_call(http, tg, "a", "getUpdates", timeout=30))
        await tg.wait_until(lambda: tg.pollers["a"] == 1)
        abandoned.cancel()  # aiohttp closes a connection whose answer was not read
        with contextlib.suppress(asyncio.CancelledError):
            await abandoned
        status, _ = await _call(http, tg, "a", "getUpdates", timeout=0)
        assert status == 200
        # The abandoned poll was answered 409 all the same, as Telegram does.
        await tg.wait_until(lambda: any(call == "getUpdates" for call, _, _ in tg.rejected))
        assert tg.conflicts == 0


async def test_get_updates_while_a_webhook_is_set_is_409_until_it_is_deleted() -> None:
    async with FakeTelegram() as tg, aiohttp.ClientSession() as http:
        status, _ = await _call(
            http,
            tg,
            "a",
            "setWebhook",
            url="https://bot.example.test/hook",
            secret_token="abc",
            allowed_updates=["message"],
        )
        assert status == 200 and tg.calls["setWebhook"] == 1
        _, info = await _call(http, tg, "a", "getWebhookInfo")
        assert info["result"]["url"] == "https://bot.example.test/hook"
        assert info["result"]["allowed_updates"] == ["message"]
        assert "secret_token" not in info["result"]  # Telegram never returns it
        status, body = await _call(http, tg, "b", "getUpdates", timeout=0)
        assert status == 409
        assert body["description"].startswith(
            "Conflict: can't use getUpdates method while webhook is active"
        )
        await _call(http, tg, "b", "deleteWebhook")
        status, _ = await _call(http, tg, "b", "getUpdates", timeout=0)
        assert status == 200


async def test_a_bad_secret_token_is_refused_like_telegram_does() -> None:
    async with FakeTelegram() as tg, aiohttp.ClientSession() as http:
        status, body = await _call(
            http, tg, "a", "setWebhook", url="https://h.test/x", secret_token="no spaces"
        )
        assert status == 400 and "secret token" in body["description"]
        assert tg.webhook is None
