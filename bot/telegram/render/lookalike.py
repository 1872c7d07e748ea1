""" "The last N times this symbol looked like this" on the card and in pushes; the
sentence is `bot.scoring.explain.lookalike_sentence` (the web page says the same)."""

from __future__ import annotations

from typing import Any

from bot.scoring.explain import lookalike_sentence
from bot.telegram.render.format import esc

__all__ = ["lookalike_lines", "lookalike_sentence"]


def lookalike_lines(found: Any) -> list[str]:
    return [] if found is None else [f"🔁 {esc(lookalike_sentence(found))}"]
