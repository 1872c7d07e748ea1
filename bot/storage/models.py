"""SQLAlchemy 2 ORM models.

Conventions that hold for every table:
- Times are integer epoch milliseconds (UTC). They index and compare the same way on
  SQLite and PostgreSQL, and are half the size of a timestamp string on SQLite.
- Market data is keyed by (exchange, symbol), so more exchanges need no schema change.
- No dialect-specific types or SQL.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Stable constraint names, so Alembic batch migrations can find them on SQLite.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


# ---------------------------------------------------------------- market data


class Instrument(Base):
    __tablename__ = "instruments"

    exchange: Mapped[str] = mapped_column(String(16), primary_key=True)
    symbol: Mapped[str] = mapped_column(String(40), primary_key=True)
    base_asset: Mapped[str] = mapped_column(String(24))
    quote_asset: Mapped[str] = mapped_column(String(12))
    onboard_ms: Mapped[int | None] = mapped_column(BigInteger)
    first_seen_ms: Mapped[int] = mapped_column(BigInteger)
    last_seen_ms: Mapped[int] = mapped_column(BigInteger)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class OiSample(Base):
    """Open interest in contracts at one moment: the anchors for 1h/4h/24h deltas."""

    __tablename__ = "oi_samples"

    exchange: Mapped[str] = mapped_column(String(16), primary_key=True)
    symbol: Mapped[str] = mapped_column(String(40), primary_key=True)
    ts_ms: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    contracts: Mapped[float] = mapped_column(Float)
    source: Mapped[str] = mapped_column(String(8))  # "live" | "hist"

    __table_args__ = (Index("ix_oi_samples_ts", "ts_ms"),)


class Cycle(Base):
    """One scoring run. Written once, in the same transaction as its snapshots."""

    __tablename__ = "cycles"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    exchange: Mapped[str] = mapped_column(String(16))
    started_ms: Mapped[int] = mapped_column(BigInteger)
    finished_ms: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16))  # "ok" | "partial"
    symbols_attempted: Mapped[int] = mapped_column(Integer)
    symbols_fetched: Mapped[int] = mapped_column(Integer)
    symbols_failed: Mapped[int] = mapped_column(Integer)
    weight_used: Mapped[int] = mapped_column(Integer, default=0)
    history_calls: Mapped[int] = mapped_column(Integer, default=0)
    # Column keeps its first name (no migration for a rename); it counts events.
    events_created: Mapped[int] = mapped_column("alerts_emitted", Integer, default=0)
    errors: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_cycles_exchange_finished", "exchange", "finished_ms"),)


class ScoreSnapshot(Base):
    """Every input, component and label of one symbol's score in one cycle."""

    __tablename__ = "score_snapshots"

    cycle_id: Mapped[int] = mapped_column(
        ForeignKey("cycles.id", ondelete="CASCADE"), primary_key=True
    )
    exchange: Mapped[str] = mapped_column(String(16), primary_key=True)
    symbol: Mapped[str] = mapped_column(String(40), primary_key=True)
    ts_ms: Mapped[int] = mapped_column(BigInteger)
    score: Mapped[int] = mapped_column(SmallInteger)
    band: Mapped[str] = mapped_column(String(12))
    bias: Mapped[str] = mapped_column(String(8))
    regime: Mapped[str] = mapped_column(String(32))
    oi_contracts: Mapped[float] = mapped_column(Float)
    oi_1h_pct: Mapped[float | None] = mapped_column(Float)
    oi_4h_pct: Mapped[float | None] = mapped_column(Float)
    oi_24h_pct: Mapped[float | None] = mapped_column(Float)
    funding_pct: Mapped[float] = mapped_column(Float)
    funding_interval_hours: Mapped[int] = mapped_column(SmallInteger)
    funding_8h_pct: Mapped[float] = mapped_column(Float)
    mark_price: Mapped[float] = mapped_column(Float)
    index_price: Mapped[float] = mapped_column(Float)
    basis_pct: Mapped[float] = mapped_column(Float)
    oi_build: Mapped[float] = mapped_column(Float)
    funding_st: Mapped[float] = mapped_column(Float)
    basis_st: Mapped[float] = mapped_column(Float)
    bias_value: Mapped[float] = mapped_column(Float)

    __table_args__ = (
        # /symbol history chart; the primary key already serves /top (latest cycle).
        Index("ix_score_snapshots_symbol_ts", "exchange", "symbol", "ts_ms"),
        Index("ix_score_snapshots_ts", "ts_ms"),
    )


class AggregateVenue(Base):
    """One venue's part in a coin's cross-venue aggregate ("all" row of the same cycle):
    what /symbol and scan show per venue. `missing` marks a venue counted in the
    aggregate that failed this cycle (figures null): the aggregate is partial."""

    __tablename__ = "aggregate_venues"

    cycle_id: Mapped[int] = mapped_column(
        ForeignKey("cycles.id", ondelete="CASCADE"), primary_key=True
    )
    coin: Mapped[str] = mapped_column(String(40), primary_key=True)
    venue: Mapped[str] = mapped_column(String(16), primary_key=True)
    ts_ms: Mapped[int] = mapped_column(BigInteger, index=True)
    symbols: Mapped[str] = mapped_column(String(200))  # the venue's contracts, comma-separated
    missing: Mapped[bool] = mapped_column(Boolean, default=False)
    oi_coins: Mapped[float | None] = mapped_column(Float)
    oi_usd: Mapped[float | None] = mapped_column(Float)
    share: Mapped[float | None] = mapped_column(Float)  # of the aggregate's OI in USD
    funding_8h_pct: Mapped[float | None] = mapped_column(Float)
    basis_pct: Mapped[float | None] = mapped_column(Float)


# ---------------------------------------------------------------- alerts


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


class AlertEvent(Base):
    __tablename__ = "alert_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    cycle_id: Mapped[int] = mapped_column(ForeignKey("cycles.id", ondelete="CASCADE"))
    exchange: Mapped[str] = mapped_column(String(16))
    symbol: Mapped[str] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(16))  # "band" | "squeeze"
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
    """The outbox: one row per (event, chat). Status moves pending -> sent|failed|dropped;
    `suppressed` records a delivery withheld by cooldown, quiet hours or mute."""

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

    __table_args__ = (
        UniqueConstraint("event_id", "chat_id", name="uq_deliveries_key"),
        Index("ix_deliveries_pending", "status", "next_attempt_ms"),
        Index("ix_deliveries_chat", "chat_id", "created_ms"),
    )


class Lease(Base):
    """A named lease held by one replica until `expires_ms` (database clock, epoch ms):
    "scorer", "updates" (getUpdates poller / setWebhook owner). `epoch` grows on every
    change of holder, so a write fenced on (holder, epoch) fails once the lease moved on
    (bot/storage/leases.py)."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    holder: Mapped[str] = mapped_column(String(128))
    epoch: Mapped[int] = mapped_column(BigInteger)
    acquired_ms: Mapped[int] = mapped_column(BigInteger)
    expires_ms: Mapped[int] = mapped_column(BigInteger)


class CommandCount(Base):
    """Commands counted per (scope, key) and fixed window, shared by every replica that
    answers updates: scope "user" or "group", key the user or chat id."""

    __tablename__ = "command_counts"

    scope: Mapped[str] = mapped_column(String(8), primary_key=True)
    key: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    window_ms: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    count: Mapped[int] = mapped_column(Integer)

    __table_args__ = (Index("ix_command_counts_window", "window_ms"),)


class SendPace(Base):
    """The bot token's global send pace shared by every outbox worker: the next free
    send slot (epoch ms, database clock) per budget ("global", "paid")."""

    __tablename__ = "send_pace"

    name: Mapped[str] = mapped_column(String(16), primary_key=True)
    next_ms: Mapped[int] = mapped_column(BigInteger)


# ---------------------------------------------------------------- liquidations


class LiqBucket(Base):
    """One minute of one venue's liquidations of one symbol and side (the position
    closed: "long" | "short"), as written by the stream holder of lease epoch `epoch`.
    Each write replaces the row with that holder's total so far, so a bucket written
    twice never adds up twice; a window sums the epochs (bot/liquidations/buckets.py)."""

    __tablename__ = "liq_buckets"

    venue: Mapped[str] = mapped_column(String(16), primary_key=True)
    symbol: Mapped[str] = mapped_column(String(40), primary_key=True)
    side: Mapped[str] = mapped_column(String(5), primary_key=True)
    minute_ms: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    epoch: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    usd: Mapped[float] = mapped_column(Float)
    qty: Mapped[float] = mapped_column(Float)  # base-asset units (OKX: contracts x ctVal)
    events: Mapped[int] = mapped_column(Integer)

    __table_args__ = (Index("ix_liq_buckets_minute", "minute_ms"),)


class LiqCoverage(Base):
    """How many milliseconds of one minute a venue's liquidation stream was live (held
    by epoch `epoch`): a window's coverage is the sum over its minutes and epochs."""

    __tablename__ = "liq_coverage"

    venue: Mapped[str] = mapped_column(String(16), primary_key=True)
    minute_ms: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    epoch: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    live_ms: Mapped[int] = mapped_column(Integer)

    __table_args__ = (Index("ix_liq_coverage_minute", "minute_ms"),)
