"""SQLAlchemy 2 ORM models.

Conventions that hold for every table:
- Times are integer epoch milliseconds (UTC). They index and compare the same way on
  SQLite and PostgreSQL, and are half the size of a timestamp string on SQLite.
- Market data is keyed by (exchange, symbol), so more exchanges need no schema change.
- No dialect-specific types or SQL.
"""

from __future__ import annotations

from bot.storage.models.alerts import (
    AlertCascade,
    AlertEvent,
    AlertState,
    Chat,
    Delivery,
    PendingSubscription,
    Rule,
    RuleState,
    Subscription,
)
from bot.storage.models.base import NAMING, Base
from bot.storage.models.coordination import CommandCount, Lease, SendPace
from bot.storage.models.destinations import Destination
from bot.storage.models.liquidations import LiqBucket, LiqCoverage
from bot.storage.models.market import (
    AggregateVenue,
    Cycle,
    HourlyRow,
    Instrument,
    OiSample,
    ScoreSnapshot,
)
from bot.storage.models.positioning import LsRatio

__all__ = [
    "NAMING",
    "AggregateVenue",
    "AlertCascade",
    "AlertEvent",
    "AlertState",
    "Base",
    "Chat",
    "CommandCount",
    "Cycle",
    "Delivery",
    "Destination",
    "HourlyRow",
    "Instrument",
    "Lease",
    "LiqBucket",
    "LiqCoverage",
    "LsRatio",
    "OiSample",
    "PendingSubscription",
    "Rule",
    "RuleState",
    "ScoreSnapshot",
    "SendPace",
    "Subscription",
]
