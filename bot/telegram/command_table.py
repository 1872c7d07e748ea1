"""The bot's commands, listed once: name, menu description, who sees it, handler.

Everything about the command list is derived from `COMMANDS`: the handlers app.py
registers, the /help text, and the menus Telegram shows (setMyCommands per scope). So a
command cannot be answered but missing from the menu, or in the menu but refused.

Telegram shows a chat the most specific menu set for it: a private chat its own
(`BotCommandScopeChat`), else all private chats; a group's administrators theirs
(`BotCommandScopeAllChatAdministrators`), else all group chats; else the default.
/status answers only the operators (`telegram.admin_ids`), so it is in their private
chats' menus and nobody else's. Setting a private chat's menu needs that chat to exist:
an operator who has never written to the bot gets it at their first /start.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from telegram import (
    Bot,
    BotCommand,
    BotCommandScope,
    BotCommandScopeAllChatAdministrators,
    BotCommandScopeAllGroupChats,
    BotCommandScopeAllPrivateChats,
    BotCommandScopeChat,
    BotCommandScopeDefault,
    Update,
)
from telegram.error import TelegramError

from bot.telegram import commands, destination_commands, render, rules, subscriptions
from bot.telegram.auth import Handler, is_operator
from bot.telegram.deps import BotContext, reply

logger = logging.getLogger(__name__)


class Audience(enum.Enum):
    """Who may use a command, and so whose menu shows it."""

    EVERYONE = "everyone"  # private chats and every group member
    # Private chats, and a group's administrators (auth.group_admin_only refuses others).
    CHAT_ADMINS = "chat admins"
    OPERATORS = "operators"  # telegram.admin_ids (auth.admin_only)
    NOBODY = "nobody"  # answered, never listed: /start is Telegram's own Start button


@dataclass(frozen=True)
class Command:
    name: str
    description: str  # the menu's words; /help prints it after render.USAGE's example
    audience: Audience
    handler: Handler


async def help_command(update: Update, context: BotContext) -> None:
    await reply(update, context, help_text())


async def start_command(update: Update, context: BotContext) -> None:
    """/start, and an operator's menu with /status: their chat exists from now on."""
    await commands.start(update, context)
    chat = update.effective_chat
    operator = is_operator(update, context.deps.settings.telegram.admin_ids)
    if operator and chat is not None and chat.type == "private":
        await set_menu(context.bot, operator_menu(chat.id))


COMMANDS: tuple[Command, ...] = (
    Command("start", "Welcome, with a first example", Audience.NOBODY, start_command),
    Command("top", "Most stressed symbols", Audience.EVERYONE, commands.top),
    Command("symbol", "Card and chart for one symbol", Audience.EVERYONE, commands.symbol),
    Command("subscribe", "Alerts for a symbol", Audience.CHAT_ADMINS, subscriptions.subscribe),
    Command(
        "unsubscribe", "Stop alerts for a symbol", Audience.CHAT_ADMINS, subscriptions.unsubscribe
    ),
    Command(
        "subscriptions",
        "What this chat is subscribed to",
        Audience.EVERYONE,
        subscriptions.subscriptions,
    ),
    # Anyone sees the chat's market alerts and settings; changing them is for admins.
    Command("market", "Market-wide alerts", Audience.EVERYONE, subscriptions.market),
    Command(
        "settings",
        "Minimum band, direction, time zone, quiet hours, mute, daily cap",
        Audience.EVERYONE,
        subscriptions.settings,
    ),
    # Anyone lists and tests rules; adding and removing them is for admins (bot/telegram/rules.py).
    Command("rule", "Your own alert rules, tested on history first", Audience.EVERYONE, rules.rule),
    # A destination gets every alert the chat does: admins only (destination_commands.py).
    Command(
        "webhook",
        "Alerts to Discord or an HTTPS webhook too",
        Audience.CHAT_ADMINS,
        destination_commands.webhook,
    ),
    Command("help", "How it works, all commands", Audience.EVERYONE, help_command),
    Command("status", "Service status", Audience.OPERATORS, commands.status),
)


def help_text() -> str:
    listed = [c for c in COMMANDS if c.audience is not Audience.NOBODY]
    return render.help_text(
        [(c.name, c.description, c.audience is Audience.OPERATORS) for c in listed]
    )


@dataclass(frozen=True)
class Menu:
    scope: BotCommandScope
    commands: tuple[Command, ...]

    def bot_commands(self) -> list[BotCommand]:
        return [BotCommand(c.name, c.description) for c in self.commands]


def _seen_by(*audiences: Audience) -> tuple[Command, ...]:
    return tuple(c for c in COMMANDS if c.audience in audiences)


def operator_menu(chat_id: int) -> Menu:
    """An operator's private chat: everything a private chat has, and /status."""
    return Menu(
        BotCommandScopeChat(chat_id),
        _seen_by(Audience.EVERYONE, Audience.CHAT_ADMINS, Audience.OPERATORS),
    )


def menus(admin_ids: Sequence[int]) -> list[Menu]:
    """Every scope's menu; a narrower scope replaces a wider one, so each lists all."""
    private = _seen_by(Audience.EVERYONE, Audience.CHAT_ADMINS)
    members = _seen_by(Audience.EVERYONE)
    return [
        Menu(BotCommandScopeDefault(), members),
        Menu(BotCommandScopeAllPrivateChats(), private),
        Menu(BotCommandScopeAllGroupChats(), members),
        Menu(BotCommandScopeAllChatAdministrators(), private),
        *(operator_menu(user_id) for user_id in admin_ids),
    ]


async def set_menu(bot: Bot, menu: Menu) -> bool:
    """The menu is cosmetic: a failure is logged, never raised."""
    try:
        await bot.set_my_commands(menu.bot_commands(), scope=menu.scope)
    except TelegramError as exc:
        if isinstance(menu.scope, BotCommandScopeChat) and "chat not found" in str(exc).lower():
            logger.info(
                "operator %s has not written to the bot yet: /status joins their menu at "
                "their first /start",
                menu.scope.chat_id,
            )
        else:
            logger.warning("setMyCommands (%s) failed: %s", menu.scope.type, exc)
        return False
    return True


async def publish_menus(bot: Bot, admin_ids: Sequence[int]) -> None:
    """All at once: start-up waits for one Bot API round trip, not one per scope."""
    await asyncio.gather(*(set_menu(bot, menu) for menu in menus(admin_ids)))
