"""Alerts (docs/alerts.md): band and squeeze transitions, fanned out to the outbox.

- `types`: events, states, subscription and delivery kinds (pure; what bot.storage
  may import from here);
- `transitions`: the per-symbol state machine (pure);
- `fanout`: events x subscriptions x chat preferences -> delivery rows (pure);
- `held`: the daily cap and the catch-up owed after held pushes (pure);
- `engine`: `AlertEngine.in_cycle_transaction`, the scorer's cycle hook (DB, one transaction).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bot.alerts.fanout import FanoutRules
from bot.alerts.transitions import Hysteresis
from bot.alerts.types import (
    ChatPrefs,
    DeliveryStatus,
    Direction,
    Event,
    EventKind,
    Sub,
    SubKind,
    SymbolState,
)

if TYPE_CHECKING:
    from bot.alerts.engine import AlertEngine, format_alert_line

__all__ = [
    "AlertEngine",
    "ChatPrefs",
    "DeliveryStatus",
    "Direction",
    "Event",
    "EventKind",
    "FanoutRules",
    "Hysteresis",
    "Sub",
    "SubKind",
    "SymbolState",
    "format_alert_line",
]


def __getattr__(name: str) -> Any:
    # Imported lazily: the engine imports bot.storage.alert_repo, which imports this
    # package's pure modules; an eager import here would be circular.
    if name in ("AlertEngine", "format_alert_line"):
        from bot.alerts import engine

        return getattr(engine, name)
    raise AttributeError(name)
