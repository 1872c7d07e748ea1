"""How much Telegram accepts in one message, and cutting text to fit.

Lives next to `sender.py`, which is the only place that sends, so every text goes out in
parts Telegram accepts whatever the renderer produced.

- Text stays under 4096 characters per message (`split_message`), captions under 1024
  (`fits_caption`). Lengths are counted on the raw HTML in UTF-16 units, which is never
  less than what Telegram counts after parsing.
- The renderer (`bot/telegram/render/`) lets only `<pre>` span several lines, so
  `split_message` can cut between lines and only needs to re-balance `<pre>`.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable

from telegram.constants import MessageLimit

MAX_TEXT = int(MessageLimit.MAX_TEXT_LENGTH)
MAX_CAPTION = int(MessageLimit.CAPTION_LENGTH)


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


_TAG = re.compile(r"<[^<>]+>")


def visible_len(html_text: str) -> int:
    """Length as Telegram counts it: after our own tags and entities are parsed."""
    return utf16_len(html.unescape(_TAG.sub("", html_text)))


def fits_caption(text: str) -> bool:
    return visible_len(text) <= MAX_CAPTION


def split_message(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Cut on line boundaries into parts of at most `limit`; close and reopen `<pre>`
    around a cut inside a table. A single line longer than the limit is cut hard."""
    if utf16_len(text) <= limit:
        return [text]
    reserve = len("<pre></pre>")
    parts: list[str] = []
    current: list[str] = []
    size = 0
    in_pre = False
    pre_at_start = False

    def flush() -> None:
        nonlocal current, size, pre_at_start
        if not current:
            return
        body = "\n".join(current)
        if pre_at_start:
            body = "<pre>" + body
        if in_pre:
            body += "</pre>"
        if body.strip() and body not in ("<pre></pre>",):
            parts.append(body)
        current, size = [], 0
        pre_at_start = in_pre

    for line in _hard_wrap(text.split("\n"), limit - reserve):
        cost = utf16_len(line) + 1
        if current and size + cost + reserve > limit:
            flush()
        current.append(line)
        size += cost
        opens, closes = line.count("<pre>"), line.count("</pre>")
        if opens > closes:
            in_pre = True
        elif closes > opens:
            in_pre = False
    in_pre = False
    flush()
    return parts


def _hard_wrap(lines: Iterable[str], width: int) -> Iterable[str]:
    for line in lines:
        while utf16_len(line) > width:
            cut = width
            # Never cut inside an HTML entity or tag.
            amp, lt = line.rfind("&", 0, cut), line.rfind("<", 0, cut)
            for pos, end in ((amp, ";"), (lt, ">")):
                if pos != -1 and line.find(end, pos) >= cut:
                    cut = pos
            cut = max(cut, 1)
            yield line[:cut]
            line = line[cut:]
        yield line
