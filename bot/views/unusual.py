"""How unusual a row is for its own symbol, as facts the renderer words: which of the
score's inputs sit in a tail of the symbol's trailing 90 days (bot/scoring/percentile.py).

A field is in its top k% when its percentile is at least 100 - k, in its bottom k% when
below k (k = 5, else 10); the narrower tail is named. Nothing is said of a field whose
percentile is unknown (too little history) or outside both tails.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

TAILS = (5, 10)
# (the row's key, the words the renderer uses for it)
FIELDS = (
    ("funding_pctl_90d", "funding premium"),
    ("oi_24h_pctl_90d", "OI 24h"),
    ("basis_pctl_90d", "basis"),
)


@dataclass(frozen=True, slots=True)
class Tail:
    what: str  # "funding premium", "OI 24h", "basis"
    side: str  # "top" | "bottom"
    share: int  # percent: 5 or 10
    percentile: int


def tails(row: Any) -> list[Tail]:
    """The row's fields in a tail of their own 90 days. `row` is anything with the
    percentile keys as attributes (a `MarketRow`, an alert item); a missing one is
    unknown."""
    out: list[Tail] = []
    for key, what in FIELDS:
        p = getattr(row, key, None)
        if p is None:
            continue
        for share in TAILS:
            if p >= 100 - share:
                out.append(Tail(what, "top", share, p))
                break
            if p < share:
                out.append(Tail(what, "bottom", share, p))
                break
    return out
