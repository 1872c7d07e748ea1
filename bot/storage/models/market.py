"""Market data: instruments, OI samples, cycles, score snapshots, aggregate parts."""

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
)
from sqlalchemy.orm import Mapped, mapped_column

from bot.storage.models.base import Base


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
    # The symbol's own percentiles (0-100) in its trailing 90 days of hourly rows; null
    # until two weeks are stored (bot/scoring/percentile.py).
    funding_pctl_90d: Mapped[int | None] = mapped_column(SmallInteger)
    oi_24h_pctl_90d: Mapped[int | None] = mapped_column(SmallInteger)
    basis_pctl_90d: Mapped[int | None] = mapped_column(SmallInteger)

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


class HourlyRow(Base):
    """One symbol's hour, compact and kept for a year (`[scorer] hourly_retention_days`):
    the score's inputs and labels as the hour's last cycle saw them, and the mark's high
    and low over all its cycles. Stamped at the end of the hour, like the shipped history
    (`bot/replay/data.py`), so `replay --from-db` reads it as that file's rows. Written
    by every cycle as an idempotent upsert (bot/storage/hourly_repo.py)."""

    __tablename__ = "hourly_rows"

    exchange: Mapped[str] = mapped_column(String(16), primary_key=True)
    symbol: Mapped[str] = mapped_column(String(40), primary_key=True)
    hour_ms: Mapped[int] = mapped_column(BigInteger, primary_key=True)  # end of the hour
    last_ms: Mapped[int] = mapped_column(BigInteger)  # the cycle the close values are from
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
    funding_premium: Mapped[float] = mapped_column(Float)
    basis_pct: Mapped[float] = mapped_column(Float)
    mark_price: Mapped[float] = mapped_column(Float)  # the close: the last cycle's mark
    index_price: Mapped[float] = mapped_column(Float)
    high: Mapped[float] = mapped_column(Float)  # of the mark over the hour's cycles
    low: Mapped[float] = mapped_column(Float)

    __table_args__ = (Index("ix_hourly_rows_hour", "hour_ms"),)
