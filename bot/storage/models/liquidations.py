"""Liquidations: one-minute buckets and stream coverage."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Float,
    Index,
    Integer,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

from bot.storage.models.base import Base


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
