"""Alerts (docs/alerts.md): band and squeeze transitions, fanned out to the outbox.

Pure: nothing here reads the clock, the network or the database. The cycle hook that
loads states, runs these and writes the events is `bot.cycle.alert_hook`.

- `types`: events, states, subscription and delivery kinds (pure; what bot.storage
  may import from here);
- `transitions`: the per-symbol state machine (pure);
- `fanout`: events x subscriptions x chat preferences -> delivery rows (pure);
- `held`: the daily cap and the catch-up owed after held pushes (pure);
"""

from __future__ import annotations

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

__all__ = [
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
]
