"""One command table (bot/telegram/command_table.py) drives the handlers, /help and the
menus Telegram shows per scope: the real PTB Application against the fake Bot API."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest

from bot.config import Settings
from bot.telegram.command_table import COMMANDS, Audience
from fakes.bot_harness import BotWithWorker
from fakes.fake_telegram import FakeTelegram
from tests.telegram.helpers import ADMIN_ID

USER = 42
NEW_OPERATOR = 779  # in telegram.admin_ids, never wrote to the bot
EVERYONE = ["top", "symbol", "subscriptions", "market", "settings", "rule", "help"]
PRIVATE = ["top", "symbol", "subscribe", "unsubscribe", "subscriptions", "market", "settings"]
PRIVATE += ["rule", "webhook", "help"]


async def test_each_scope_gets_the_commands_its_users_may_use(
    runtime: BotWithWorker, fake_tg: FakeTelegram
) -> None:
    assert fake_tg.menu_names("default") == EVERYONE
    assert fake_tg.menu_names("all_private_chats") == PRIVATE
    assert fake_tg.menu_names("all_group_chats") == EVERYONE  # members cannot subscribe
    assert fake_tg.menu_names("all_chat_administrators") == PRIVATE
    # /status only in the operator's own chat.
    with_status = [scope for scope in fake_tg.menus if "status" in fake_tg.menu_names(scope)]
    assert with_status == [f"chat:{ADMIN_ID}"]
    assert fake_tg.menu_names(f"chat:{ADMIN_ID}") == [*PRIVATE, "status"]
    # What Telegram hands back is what was set, description included.
    [top] = [c for c in fake_tg.menus["default"] if c["command"] == "top"]
    assert top["description"] == "Most stressed symbols"


async def test_an_operator_who_never_wrote_gets_status_at_first_start(
    start: Callable[..., Any],
    make_settings: Callable[..., Settings],
    fake_tg: FakeTelegram,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "bot.telegram.command_table")
    await start(make_settings(admin_ids=[ADMIN_ID, NEW_OPERATOR]))
    # Telegram does not know the new operator's chat yet: no menu, one INFO line, and
    # the bot starts as usual.
    assert fake_tg.menu_names(f"chat:{ADMIN_ID}") == [*PRIVATE, "status"]
    assert f"chat:{NEW_OPERATOR}" not in fake_tg.menus
    [line] = [r for r in caplog.records if r.name == "bot.telegram.command_table"]
    assert line.levelno == logging.INFO and str(NEW_OPERATOR) in line.getMessage()
    fake_tg.push_message(NEW_OPERATOR, "/start")
    await fake_tg.wait_until(lambda: f"chat:{NEW_OPERATOR}" in fake_tg.menus)
    assert fake_tg.menu_names(f"chat:{NEW_OPERATOR}") == [*PRIVATE, "status"]
    # Anyone else's /start sets no menu.
    before = fake_tg.calls["setMyCommands"]
    fake_tg.push_message(USER, "/start")
    await fake_tg.wait_for_messages(USER, 1)
    assert fake_tg.calls["setMyCommands"] == before
    assert "status" not in fake_tg.menu_names(f"chat:{USER}")


async def test_help_lists_the_table_and_every_listed_command_answers(
    runtime: BotWithWorker, fake_tg: FakeTelegram
) -> None:
    fake_tg.push_message(USER, "/help")
    [help_reply] = await fake_tg.wait_for_messages(USER, 1)
    lines = help_reply.visible.splitlines()
    for command in COMMANDS:
        listed = [line for line in lines if line.startswith(f"/{command.name}")]
        assert bool(listed) == (command.audience is not Audience.NOBODY), command.name
    assert "/status: service status (operators only)" in lines
    # Registered from the same table: none is "I don't know".
    for n, command in enumerate(COMMANDS, start=1):
        chat = 1000 + n
        fake_tg.push_message(chat, f"/{command.name}")
        [answer] = await fake_tg.wait_for_messages(chat, 1)
        assert "I don't know" not in answer.visible, command.name


async def test_the_fake_keeps_one_menu_per_scope_as_telegram_does(fake_tg: FakeTelegram) -> None:
    from telegram import Bot, BotCommand, BotCommandScopeAllGroupChats, BotCommandScopeChat
    from telegram.error import BadRequest

    async with Bot(fake_tg.token, base_url=fake_tg.base_url) as bot:
        await bot.set_my_commands([BotCommand("top", "Top")])
        await bot.set_my_commands([BotCommand("help", "Help")], BotCommandScopeAllGroupChats())
        assert [c.command for c in await bot.get_my_commands()] == ["top"]
        groups = await bot.get_my_commands(BotCommandScopeAllGroupChats())
        assert [c.command for c in groups] == ["help"]
        with pytest.raises(BadRequest, match="not found"):  # never wrote to the bot
            await bot.set_my_commands([BotCommand("top", "Top")], BotCommandScopeChat(4242))
        await bot.delete_my_commands(BotCommandScopeAllGroupChats())
        assert await bot.get_my_commands(BotCommandScopeAllGroupChats()) == ()
