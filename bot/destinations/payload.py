"""The generic webhook's JSON body: a stable schema, versioned (docs/alerts.md,
"Destinations": every key below is documented there).

Version 1. Additive keys may appear within a version; renaming or removing one, or
changing its meaning, bumps `version`. The body is serialised once, compactly, and
the signature is over exactly those bytes.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from bot.alerts.cascade import decode_detail
from bot.storage.outbox_repo import AlertItem

SCHEMA = "pressurebot.alerts"
VERSION = 1


def idempotency_key(delivery_ids: Sequence[int]) -> str:
    """Stable per delivery: the id of the group's lead outbox row. A retry, or a resend
    after a crash, carries the same key, so a receiver can drop the repeat."""
    return f"pressurebot-{min(delivery_ids)}"


def alert_json(item: AlertItem) -> dict[str, Any]:
    return {
        "id": item.delivery_id,
        "event_id": item.event_id,
        "exchange": item.exchange,
        "symbol": item.symbol,
        "kind": item.kind,
        "direction": item.direction,
        "from_band": item.from_band,
        "to_band": item.to_band,
        "from_regime": item.from_regime,
        "to_regime": item.to_regime,
        "score": item.score,
        "bias": item.bias,
        "regime": item.regime,
        "oi_24h_pct": item.oi_24h_pct,
        "funding_8h_pct": item.funding_8h_pct,
        "basis_pct": item.basis_pct,
        "event_ms": item.event_ms,
        "note": item.note,
        "rule": None
        if item.rule_name is None
        else {"name": item.rule_name, "condition": item.rule_text},
        # A cascade (kind "liquidations"): the side liquidated and the push's figures.
        "side": item.side,
        "cascade": decode_detail(item.detail) or None,
    }


def body(items: Sequence[AlertItem], key: str, sent_ms: int, *, test: bool = False) -> bytes:
    doc = {
        "schema": SCHEMA,
        "version": VERSION,
        "idempotency_key": key,
        "sent_ms": sent_ms,
        "test": test,
        "alerts": [alert_json(i) for i in items],
    }
    return json.dumps(doc, separators=(",", ":"), sort_keys=True, allow_nan=False).encode()
