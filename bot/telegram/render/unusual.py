"""The words for how unusual a row is for its symbol (data: bot/views/unusual.py; the
sentence, shared with the web symbol page, in bot/scoring/explain.py):
"funding premium in its top 5% of 90 days · OI 24h in its top 10% of 90 days"."""

from __future__ import annotations

from typing import Any

from bot.scoring.explain import unusual_sentence
from bot.telegram.render.format import esc
from bot.views.unusual import tails


def unusual_line(row: Any) -> str | None:
    """One line, or None when nothing is known to be unusual."""
    return unusual_sentence(tails(row))


def unusual_lines(row: Any) -> list[str]:
    """`unusual_line` as the card's and the push's italic line (or nothing)."""
    line = unusual_line(row)
    return [f"<i>{esc(line)}</i>"] if line else []
