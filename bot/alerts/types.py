"""Alert domain types shared by the pure core (bot/alerts/transitions.py, fanout.py,
held.py), the DB hook (bot/cycle/alert_hook.py) and bot/storage.

Pure: no I/O and nothing from bot.storage, so storage imports these without pulling in
the alert engine, and the engine imports storage without a cycle (tests/test_layers.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import tzinfo
from enum import StrEnum
from typing import NamedTuple

from bot.scoring.formula import Band, Bias, Regime


class EventKind(StrEnum):
    BAND = "band"
    SQUEEZE = "squeeze"
    LIQUIDATIONS = "liquidations"  # a cascade: one side forced out (bot/alerts/cascade.py)


class Direction(StrEnum):
    UP = "up"  # band rank rose
    DOWN = "down"  # band rank fell
    ENTER = "enter"  # squeeze risk (or a cascade) began, or switched side
    EXIT = "exit"  # squeeze risk (or a cascade) ended


@dataclass(frozen=True, slots=True)
class SymbolState:
    band: Band
    band_since_ms: int
    regime: Regime
    regime_since_ms: int
    last_cycle_id: int
    candidate_band: Band | None = None
    candidate_count: int = 0
    # The streak itself: the raw band of each cycle since the score left the confirmed
    # band, oldest first (at most confirm_cycles). candidate_band/count summarise it.
    candidate_bands: tuple[Band, ...] = ()
    # While a squeeze is confirmed: the latest non-squeeze regime and the streak length.
    candidate_regime: Regime | None = None
    candidate_regime_count: int = 0


@dataclass(frozen=True, slots=True)
class Event:
    symbol: str
    kind: EventKind
    direction: Direction
    score: int
    bias: Bias
    regime: Regime  # the regime observed this cycle
    from_band: Band | None = None
    to_band: Band | None = None
    from_regime: Regime | None = None
    to_regime: Regime | None = None
    # Cascades only: the side liquidated ("long" | "short") and the figures the push
    # shows, as compact JSON (bot/alerts/cascade.py writes and decodes it).
    side: str | None = None
    detail: str | None = None


# Liquidation cascades (the state machine: bot/alerts/cascade.py).


class CascadeSide(StrEnum):
    LONG = "long"  # longs liquidated (sell orders closing longs)
    SHORT = "short"


class SqueezePhase(StrEnum):
    """What the card says about a squeeze (additive to the regime, never replacing it)."""

    UNDER_WAY = "under_way"  # its crowded side is being liquidated now
    FLUSHED = "flushed"  # that cascade has subsided, recently


@dataclass(frozen=True, slots=True)
class CascadeState:
    side: CascadeSide | None = None  # the side whose cascade is on
    since_ms: int = 0  # when it began (the entry's cycle)
    window_start_ms: int = 0  # the first minute of the window that entry saw
    forced_usd: float = 0.0  # the side's USD since window_start_ms, as last read
    squeeze: Regime | None = None  # the squeeze it resolves, if any
    calm_count: int = 0  # cycles in a row under the exit thresholds
    flushed: Regime | None = None  # a squeeze flushed recently...
    flushed_left: int = 0  # ...shown for this many more cycles
    flushed_oi_pct: float | None = None  # ...and how much of OI that cascade forced out
    last_cycle_id: int = 0

    def quiet(self) -> bool:
        return self.side is None and self.flushed_left <= 0

    def phase(self) -> SqueezePhase | None:
        if self.side is not None and self.squeeze is not None:
            return SqueezePhase.UNDER_WAY
        if self.flushed is not None and self.flushed_left > 0:
            return SqueezePhase.FLUSHED
        return None


MARKET = "*"  # Subscription.symbol for a market-wide subscription


class SubKind(StrEnum):
    BANDS = "bands"
    SQUEEZE = "squeeze"
    LIQUIDATIONS = "liquidations"


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
    DROPPED = "dropped"
    SUPPRESSED = "suppressed"


class SuppressReason(StrEnum):
    MUTED = "muted"
    QUIET_HOURS = "quiet_hours"
    COOLDOWN = "cooldown"
    DAILY_CAP = "daily_cap"


class DeliveryKind(StrEnum):
    """What a delivery row shows. The outbox groups rows by (chat, cycle) whatever the
    kind, so a catch-up or a cap note shares its cycle's one message."""

    ALERT = "alert"  # the event itself
    CATCHUP = "catchup"  # the symbol's current state, after alerts were held
    CAP_NOTE = "cap_note"  # held by the daily cap; the rows of one cycle form the note


# alert_events.kind of a rule's event is "rule:<rule id>": per rule, so the events' unique
# key (exchange, symbol, kind, cycle) holds per rule and the cooldown keys rules apart.
RULE_KIND_PREFIX = "rule:"


def rule_event_kind(rule_id: int) -> str:
    return f"{RULE_KIND_PREFIX}{rule_id}"


RuleKey = tuple[int, str]  # (rule id, symbol)


class RuleSpot(NamedTuple):
    """Where a rule stands on one symbol (bot/alerts/rules/state.py)."""

    active: bool
    streak: int  # cycles in a row the condition held, before firing
    misses: int  # cycles in a row it did not hold, while active
    last_cycle_id: int


class RuleFire(NamedTuple):
    """A rule that entered on a symbol this cycle, stored as event `event_id`."""

    event_id: int
    rule_id: int
    chat_id: int
    symbol: str


# Deliveries that start a cooldown: what was (or is about to be) pushed to the chat.
COOLDOWN_STATUSES = (DeliveryStatus.PENDING, DeliveryStatus.SENT)


# Suppressed for these reasons, an alert is only held: it owes the chat a catch-up.
HOLD_REASONS = (SuppressReason.MUTED, SuppressReason.QUIET_HOURS, SuppressReason.DAILY_CAP)


# The transition signature of a catch-up: a state message, never a repeat of anything.
STATE_SIG = "state"


# Records built per subscription and per delivery (tens of thousands a busy cycle) are
# NamedTuples: immutable, and three times cheaper to build than frozen dataclasses.
class ChatPrefs(NamedTuple):
    chat_id: int
    active: bool = True
    min_band: Band | None = None  # None: FanoutRules.default_min_band
    up_only: bool = False
    cooldown_minutes: int | None = None  # None: FanoutRules.cooldown_minutes
    quiet_start_min: int | None = None  # minutes after local midnight; may wrap
    quiet_end_min: int | None = None
    muted_until_ms: int | None = None
    tz: tzinfo | None = None  # None: UTC
    daily_cap: int | None = None  # None: FanoutRules.daily_cap; 0: no cap


class Sub(NamedTuple):
    chat_id: int
    symbol: str  # or MARKET
    kind: SubKind
    min_band: Band | None = None


class PlannedDelivery(NamedTuple):
    event_id: int
    chat_id: int
    status: DeliveryStatus
    reason: SuppressReason | None = None
    kind: DeliveryKind = DeliveryKind.ALERT


# (chat_id, symbol, event kind)
CooldownKey = tuple[int, str, str]


class LastAlert(NamedTuple):
    """The latest pending/sent delivery for a cooldown key: when, and which transition
    (`transition_sig`). A bare int (time only) is read as a repeat of anything."""

    created_ms: int
    sig: str


def transition_sig(
    kind: str, direction: str, to_regime: str | None = None, side: str | None = None
) -> str:
    """What "the same transition" means for the cooldown: the same direction, and for a
    squeeze entry the same squeeze (Long -> Short squeeze reverses the last entry), for
    a cascade entry the same side."""
    if kind == EventKind.SQUEEZE and direction == Direction.ENTER:
        return f"enter:{to_regime}"
    if kind == EventKind.LIQUIDATIONS and direction == Direction.ENTER:
        return f"enter:{side}"
    return str(direction)


class DayPush(NamedTuple):
    """One earlier push (a cycle with a pending/sent row) to a chat: when, and whether
    it was the daily-cap note."""

    created_ms: int
    cap_note: bool


class HeldAlert(NamedTuple):
    """A held delivery to one chat, with what its event changed from."""

    symbol: str
    kind: str  # "band" | "squeeze" | "liquidations" | "state" (a held catch-up)
    from_band: str | None
    from_regime: str | None
