"""When Telegram refuses a message for its form, not for the chat: send it in a form it
takes, so an alert is never lost to a markup or length mistake of ours.

- 400 "Bad Request: can't parse entities: ...": our HTML did not parse (text the
  escaping missed, a renderer bug). The part is resent as plain text: the same words,
  without the markup.
- 400 "Bad Request: message is too long": Telegram counted more than we did. The part
  is cut in two on a line boundary and each half sent the same way, down to
  `MIN_PART` characters.

Anything else, or a part no fallback fixes, raises the error: the caller records the
delivery failed and logs why (bot/telegram/outbox_worker.py).
"""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Awaitable, Callable

from telegram.error import BadRequest

from bot.telegram.message_limits import split_message, utf16_len

logger = logging.getLogger("bot.telegram.sender")

PARSE_ERROR = "can't parse entities"
TOO_LONG = "message is too long"
MIN_PART = 64  # a part this short that is still "too long" is not a length problem

# (text, as_html, last) -> sends one message; `last` carries the keyboard.
SendOne = Callable[[str, bool, bool], Awaitable[object]]

_TAG = re.compile(r"<[^<>]+>")


def plain_text(html_text: str) -> str:
    """What Telegram would have shown of `html_text`: tags dropped, entities decoded."""
    return html.unescape(_TAG.sub("", html_text))


async def send_with_fallbacks(
    send_one: SendOne, text: str, *, last: bool, as_html: bool = True
) -> None:
    """Send `text` (one part, within our own limits); on a refusal of its form, resend
    it as plain text or in smaller parts; other errors propagate."""
    try:
        await send_one(text, as_html, last)
        return
    except BadRequest as exc:
        reason = str(exc)
        if PARSE_ERROR in reason.lower() and as_html:
            logger.warning("telegram could not parse a message (%s): resending as plain text", exc)
            await send_with_fallbacks(send_one, plain_text(text), last=last, as_html=False)
            return
        if TOO_LONG not in reason.lower() or utf16_len(text) <= MIN_PART:
            raise
        pieces = split_message(text, max(MIN_PART, utf16_len(text) // 2 + 1))
        logger.warning("telegram found a message too long (%s): sent in %d parts", exc, len(pieces))
    for i, piece in enumerate(pieces):
        await send_with_fallbacks(
            send_one, piece, last=last and i == len(pieces) - 1, as_html=as_html
        )
