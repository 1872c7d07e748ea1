"""What followed each alert type before, from the table `pressurebot replay --evaluate
--table-out` writes (the verify period of the shipped history, out of sample), shipped
in the package as bot/views/evidence_table.json and regenerated with `make evidence`.

Lookups over a JSON resource read once; the words are `bot.scoring.explain`'s.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from bot.scoring.explain import evidence_sentence

TABLE = "evidence_table.json"
SQUEEZE_REGIMES = {"Long squeeze risk": "long", "Short squeeze risk": "short"}


@dataclass(frozen=True, slots=True)
class Evidence:
    """Out of sample: how often a >= 5% move followed within 24h, for this alert type
    (`p_big`, over `n` alerts) and for all hours (`usual`), in `years`."""

    alert_type: str
    n: int
    p_big: float | None
    usual: float
    years: str


def alert_type(
    kind: str, direction: str, to_band: str | None, from_regime: str | None, to_regime: str | None
) -> str | None:
    """The evaluation's name for an alert: "band up to stressed", "squeeze enter long";
    None for a kind the evaluation does not measure (a chat's own rule, "rule:<id>")."""
    if kind == "band":
        return f"band {direction} to {to_band}"
    if kind != "squeeze":
        return None
    regime = to_regime if direction == "enter" else from_regime
    side = SQUEEZE_REGIMES.get(str(regime), "short")
    return f"squeeze {direction} {side}"


def band_type(band: str) -> str:
    """The alert that brings a symbol into `band` (a card shows the band it is in)."""
    return "band down to neutral" if band == "neutral" else f"band up to {band}"


@cache
def _table() -> dict[str, Any]:
    # Shipped with the package (pyproject package-data); without it (a broken install)
    # alerts go out without their evidence line rather than not at all.
    try:
        text = resources.files("bot.views").joinpath(TABLE).read_text(encoding="utf-8")
    except OSError:
        return {"types": {}, "usual_p_big": 0.0, "years": ""}
    table: dict[str, Any] = json.loads(text)
    return table


def lookup(name: str, table: dict[str, Any] | None = None) -> Evidence | None:
    """The evidence for an alert type; None if the table has no such type."""
    t = table if table is not None else _table()
    entry = t["types"].get(name)
    if entry is None:
        return None
    return Evidence(name, entry["n"], entry["p_big"], t["usual_p_big"], t["years"])


def push_evidence(item: Any) -> str | None:
    """The evidence line of one push (`item`: kind, direction, to_band, from_regime,
    to_regime, as `bot.storage.outbox_repo.AlertItem`); None if the table lacks it."""
    found = _item_evidence(item)
    return None if found is None else evidence_sentence(found)


def _item_evidence(item: Any) -> Evidence | None:
    name = alert_type(item.kind, item.direction, item.to_band, item.from_regime, item.to_regime)
    return None if name is None else lookup(name)


def digest_evidence(items: Sequence[Any]) -> list[str]:
    """A compact digest's evidence: one line per alert type present (not per row), in
    the order the types first appear, so every push carries what followed it before."""
    seen: dict[str, Evidence] = {}
    for item in items:
        found = _item_evidence(item)
        if found is not None:
            seen.setdefault(found.alert_type, found)
    return [evidence_sentence(e, named=True) for e in seen.values()]


def card_evidence(band: str) -> str:
    """The card's and the web page's line: what followed a move into `band`."""
    found = lookup(band_type(band))
    return "" if found is None else evidence_sentence(found, card=True)


def build_table(evaluation: dict[str, Any], period: str = "verify") -> dict[str, Any]:
    """The shipped table from an evaluation (`bot.replay.full_evaluation.evaluate_replay`)."""
    p = evaluation["periods"][period]
    rows = {r["name"]: r for r in p["signals"]}
    first, last = p["from"][:4], p["to"][:4]
    years = first if first == last else f"{first}-{last[2:]}"
    return {
        "generated_by": "pressurebot replay --evaluate --table-out (see Makefile: evidence)",
        "period": {"name": period, "from": p["from"], "to": p["to"]},
        "years": years,
        "usual_p_big": rows["all hours"]["p_big"],
        "types": {
            name: {"n": r["n"], "p_big": r["p_big"]}
            for name, r in rows.items()
            if r["group"] == "alert"
        },
    }
