"""Alerts and chats: states, events, chats, subscriptions, rules, deliveries."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from bot.storage.models.base import Base


class AlertState(Base):
    """The confirmed band and regime per symbol, plus the hysteresis candidate."""

    __tablename__ = "alert_state"

    exchange: Mapped[str] = mapped_column(String(16), primary_key=True)
    symbol: Mapped[str] = mapped_column(String(40), primary_key=True)
    band: Mapped[str] = mapped_column(String(12))
    band_since_ms: Mapped[int] = mapped_column(BigInteger)
    regime: Mapped[str] = mapped_column(String(32))
    regime_since_ms: Mapped[int] = mapped_column(BigInteger)
    candidate_band: Mapped[str | None] = mapped_column(String(12))
    candidate_count: Mapped[int] = mapped_column(Integer, default=0)
    # The hysteresis streak, comma-separated bands oldest first (bot/alerts/transitions.py).
    candidate_bands: Mapped[str | None] = mapped_column(String(64))
    candidate_regime: Mapped[str | None] = mapped_column(String(32))
    candidate_regime_count: Mapped[int] = mapped_column(Integer, default=0)
    last_cycle_id: Mapped[int] = mapped_column(Integer)


class AlertCascade(Base):
    """A liquidation cascade on, or a squeeze flushed recently, per symbol (the pure
    `bot.alerts.cascade.CascadeState`); quiet symbols have no row."""

    __tablename__ = "alert_cascade"

    exchange: Mapped[str] = mapped_column(String(16), primary_key=True)
    symbol: Mapped[str] = mapped_column(String(40), primary_key=True)
    side: Mapped[str | None] = mapped_column(String(8))
    since_ms: Mapped[int] = mapped_column(BigInteger)
    window_start_ms: Mapped[int] = mapped_column(BigInteger)
    forced_usd: Mapped[float] = mapped_column(Float)
    squeeze: Mapped[str | None] = mapped_column(String(32))
    calm_count: Mapped[int] = mapped_column(Integer)
    flushed: Mapped[str | None] = mapped_column(String(32))
    flushed_left: Mapped[int] = mapped_column(Integer)
    flushed_oi_pct: Mapped[float | None] = mapped_column(Float)
    last_cycle_id: Mapped[int] = mapped_column(Integer)


class AlertEvent(Base):
    __tablename__ = "alert_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    cycle_id: Mapped[int] = mapped_column(ForeignKey("cycles.id", ondelete="CASCADE"))
    exchange: Mapped[str] = mapped_column(String(16))
    symbol: Mapped[str] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(16))  # "band" | "squeeze" | "liquidations"
    direction: Mapped[str] = mapped_column(String(8))  # band: up/down; squeeze: enter/exit
    from_band: Mapped[str | None] = mapped_column(String(12))
    to_band: Mapped[str | None] = mapped_column(String(12))
    from_regime: Mapped[str | None] = mapped_column(String(32))
    to_regime: Mapped[str | None] = mapped_column(String(32))
    score: Mapped[int] = mapped_column(SmallInteger)
    bias: Mapped[str] = mapped_column(String(8))
    regime: Mapped[str] = mapped_column(String(32))
    created_ms: Mapped[int] = mapped_column(BigInteger)
    # A rule's event (kind "rule:<id>", so the unique key below holds per rule): the rule
    # that fired. Removing the rule removes its events and their unsent deliveries.
    rule_id: Mapped[int | None] = mapped_column(ForeignKey("rules.id", ondelete="CASCADE"))
    # A cascade's event (kind "liquidations"): the side liquidated and the figures the
    # push shows, as JSON (bot/alerts/cascade.py).
    side: Mapped[str | None] = mapped_column(String(8))
    detail: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        UniqueConstraint("exchange", "symbol", "kind", "cycle_id", name="uq_alert_events_key"),
        Index("ix_alert_events_created", "created_ms"),
        # insert_events reads back the cycle's events by (exchange, cycle_id).
        Index("ix_alert_events_cycle", "exchange", "cycle_id"),
    )


class Chat(Base):
    """A Telegram chat (private or group) and its alert preferences."""

    __tablename__ = "chats"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    type: Mapped[str] = mapped_column(String(16))  # private | group | supergroup | channel
    title: Mapped[str | None] = mapped_column(String(128))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    deactivated_reason: Mapped[str | None] = mapped_column(String(128))
    min_band: Mapped[str] = mapped_column(String(12), default="stretched")
    direction: Mapped[str] = mapped_column(String(8), default="both")  # both | up
    cooldown_minutes: Mapped[int | None] = mapped_column(Integer)
    # Minutes after local midnight in `tz`.
    quiet_start_min: Mapped[int | None] = mapped_column(SmallInteger)
    quiet_end_min: Mapped[int | None] = mapped_column(SmallInteger)
    muted_until_ms: Mapped[int | None] = mapped_column(BigInteger)
    created_ms: Mapped[int] = mapped_column(BigInteger)
    tz: Mapped[str | None] = mapped_column(String(64))  # IANA name; null: UTC
    daily_cap: Mapped[int | None] = mapped_column(Integer)  # null: alerts.daily_cap; 0: none
    # Set when an alert to this chat is held (mute, quiet hours, daily cap); the cycle
    # that finds the chat pushable again queues its catch-up and clears it.
    held_since_ms: Mapped[int | None] = mapped_column(BigInteger)


class Subscription(Base):
    """symbol '*' is a market-wide subscription; then min_band is its threshold."""

    __tablename__ = "subscriptions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    chat_id: Mapped[int] = mapped_column(
        ForeignKey("chats.id", ondelete="CASCADE", onupdate="CASCADE")
    )
    exchange: Mapped[str] = mapped_column(String(16))
    symbol: Mapped[str] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(16))  # "bands" | "squeeze"
    min_band: Mapped[str | None] = mapped_column(String(12))
    created_ms: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (
        UniqueConstraint("chat_id", "exchange", "symbol", "kind", name="uq_subscriptions_key"),
        Index("ix_subscriptions_symbol", "exchange", "symbol", "kind"),
    )


class PendingSubscription(Base):
    """A /subscribe sent before the market was loaded (docs/alerts.md): kept until the
    first cycle shows which symbols exist, then subscribed or refused, and deleted in the
    transaction that stores the subscription (one follow-up message per request)."""

    __tablename__ = "pending_subscriptions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    chat_id: Mapped[int] = mapped_column(
        ForeignKey("chats.id", ondelete="CASCADE", onupdate="CASCADE")
    )
    symbol: Mapped[str] = mapped_column(String(40))  # as typed: resolved once known
    exchange: Mapped[str] = mapped_column(String(16))  # a venue, or "all"
    kinds: Mapped[str] = mapped_column(String(40))  # comma-separated; "" = the defaults
    requested_ms: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (
        UniqueConstraint("chat_id", "symbol", "exchange", name="uq_pending_subscriptions_key"),
    )


class Rule(Base):
    """A chat's rule (docs/rules.md): `condition` as canonical rule text, watched on one
    symbol or (symbol null) every symbol of `exchange`, fired after `for_cycles`."""

    __tablename__ = "rules"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    chat_id: Mapped[int] = mapped_column(
        ForeignKey("chats.id", ondelete="CASCADE", onupdate="CASCADE")
    )
    name: Mapped[str] = mapped_column(String(32))
    exchange: Mapped[str] = mapped_column(String(16))
    symbol: Mapped[str | None] = mapped_column(String(40))
    condition: Mapped[str] = mapped_column(String(400))
    for_cycles: Mapped[int] = mapped_column(SmallInteger, default=1)
    created_ms: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (
        UniqueConstraint("chat_id", "name", name="uq_rules_key"),
        Index("ix_rules_exchange", "exchange"),
    )


class RuleState(Base):
    """Where a rule stands on one symbol, kept only while it is not idle: `streak`
    cycles in a row the condition held (not yet fired), or `active` (fired, and
    `misses` cycles in a row it did not hold since)."""

    __tablename__ = "rule_state"

    rule_id: Mapped[int] = mapped_column(
        ForeignKey("rules.id", ondelete="CASCADE"), primary_key=True
    )
    symbol: Mapped[str] = mapped_column(String(40), primary_key=True)
    active: Mapped[bool] = mapped_column(Boolean, default=False)
    streak: Mapped[int] = mapped_column(Integer, default=0)
    misses: Mapped[int] = mapped_column(Integer, default=0)
    last_cycle_id: Mapped[int] = mapped_column(Integer)


class Delivery(Base):
    """The outbox: one row per (event, chat, destination). Status moves pending ->
    sent|failed|dropped; `suppressed` records a delivery withheld by cooldown, quiet
    hours or mute."""

    __tablename__ = "deliveries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("alert_events.id", ondelete="CASCADE"))
    chat_id: Mapped[int] = mapped_column(
        ForeignKey("chats.id", ondelete="CASCADE", onupdate="CASCADE")
    )
    cycle_id: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(12))
    reason: Mapped[str | None] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_ms: Mapped[int] = mapped_column(BigInteger)
    next_attempt_ms: Mapped[int] = mapped_column(BigInteger)
    sent_ms: Mapped[int | None] = mapped_column(BigInteger)
    # alert | catchup (the event is the symbol's current state) | cap_note (fanout.py).
    kind: Mapped[str] = mapped_column(String(12), default="alert", server_default="alert")
    # Which replica holds the row's claim, and until when (epoch ms): a live claim of
    # another replica is never released; an expired one is taken over (outbox_repo.py).
    claimed_by: Mapped[str | None] = mapped_column(String(128))
    claimed_until: Mapped[int | None] = mapped_column(BigInteger)
    # 0: the chat itself (Telegram); else the chat's destination (destinations.id) this
    # twin of the chat's row goes to. Not NULL, so the unique key and the (chat,
    # destination, cycle) claim groups compare plainly; no foreign key for the same 0.
    destination_id: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    __table_args__ = (
        UniqueConstraint("event_id", "chat_id", "destination_id", name="uq_deliveries_key"),
        Index("ix_deliveries_pending", "status", "next_attempt_ms"),
        Index("ix_deliveries_chat", "chat_id", "created_ms"),
    )
