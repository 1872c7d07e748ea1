"""The liquidation and positioning keys of every `scan --json` and /api/v1 row
(README, "JSON output"), and the document's note on where they come from.

Null when unknown. `scan` runs no stream: its rows carry the keys, all null, and the
document says why. Long/short positioning (`ls_*`) comes from bot/views/positioning.py,
laid over these nulls where a fresh ratio is stored.
"""

from __future__ import annotations

from collections.abc import Mapping

from bot.liquidations.windows import LIQ_FIELD_KEYS

LS_KEYS = ("ls_account_ratio", "ls_top_position_ratio")
ROW_KEYS = (*LIQ_FIELD_KEYS, *LS_KEYS)
RowFields = dict[str, float | None]
NO_STREAM = (
    "no liquidation stream in this process (scan, or [liquidations] enabled = false): "
    "liq_* are null; the running service's /api/v1 carries them"
)
SAMPLED = "Binance pushes at most one liquidation per symbol per second: a sample, not a total"


def unknown() -> RowFields:
    return dict.fromkeys(ROW_KEYS)


def stream_note(fields: Mapping[str, Mapping[str, float | None]] | None) -> dict[str, object]:
    """The document's `liquidations` entry: whether these rows come from a stream."""
    if fields is None:
        return {"stream": False, "note": NO_STREAM}
    return {"stream": True, "note": SAMPLED}


NO_POSITIONING = (
    "this process fetches no long/short ratios (scan is one-shot and leaves the venues' "
    "small ratio budgets to the service): ls_* are null; the running service's /api/v1 "
    "carries them"
)
POSITIONING = (
    "ls_*: each venue's latest 5-minute long/short ratio, null until fetched or when older "
    "than 30 min (docs/scoring.md, Long/short positioning)"
)


def positioning_note(fields: Mapping[str, Mapping[str, float | None]] | None) -> dict[str, object]:
    """The document's `positioning` entry: whether these rows carry stored ratios."""
    return {
        "fetched": fields is not None,
        "note": POSITIONING if fields is not None else NO_POSITIONING,
    }
