""" "The last N times this symbol looked like this" in words, for the card and pushes.
The data is bot/views/lookalike.py's `Lookalike` (duck-typed here)."""

from __future__ import annotations

import time
from typing import Any

from bot.telegram.render.format import esc


def _years(first_ms: int, last_ms: int) -> str:
    first = time.strftime("%Y", time.gmtime(first_ms / 1000))
    last = time.strftime("%Y", time.gmtime(last_ms / 1000))
    return first if first == last else f"{first}-{last[2:]}"


def lookalike_sentence(found: Any) -> str:
    """Plain text: "the 20 past hours most like now (2021-26, a day apart or more):
    median |24h| move 3.1%; 7 of 20 moved ≥5% within 24h (usually 44%)"."""
    return (
        f"the {found.n} past hours most like now ({_years(found.first_ms, found.last_ms)}, "
        f"a day apart or more): median |24h| move {found.median_abs_24h:.1f}%; "
        f"{found.big} of {found.n} moved ≥5% within 24h (usually {found.usual_big:.0%})"
    )


def lookalike_lines(found: Any) -> list[str]:
    return [] if found is None else [f"🔁 {esc(lookalike_sentence(found))}"]
