"""Why the bot could not start or stopped; importing this loads no PTB, so the CLI and
the service catch these in one place, headless or not."""

from __future__ import annotations

AUTH_FAILED = (
    "Telegram rejected the bot token (401 Unauthorized) while running: it was revoked or "
    "changed in @BotFather; set the new one in telegram.token"
)


class BotStartError(Exception):
    """The bot could not start; the message is one clear line without the token."""


class TelegramAuthError(BotStartError):
    """The Bot API answered 401 at run time: polling has stopped for good (exit 5)."""
