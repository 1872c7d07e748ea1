"""Long/short positioning: each venue's latest ratios per symbol."""

from __future__ import annotations

from sqlalchemy import BigInteger, Float, String
from sqlalchemy.orm import Mapped, mapped_column

from bot.storage.models.base import Base


class LsRatio(Base):
    """The latest long/short ratios of one venue's symbol (bot/markets/positioning.py):
    one row each, replaced as fresher readings come (no history is kept). Each ratio
    carries the venue's own time of it (the start of its 5-minute period), so a reader
    can tell a fresh one from a stale one; null where the venue has none."""

    __tablename__ = "ls_ratios"

    exchange: Mapped[str] = mapped_column(String(16), primary_key=True)
    symbol: Mapped[str] = mapped_column(String(40), primary_key=True)
    account_ratio: Mapped[float | None] = mapped_column(Float)
    account_ms: Mapped[int | None] = mapped_column(BigInteger)
    top_position_ratio: Mapped[float | None] = mapped_column(Float)
    top_position_ms: Mapped[int | None] = mapped_column(BigInteger)
    fetched_ms: Mapped[int] = mapped_column(BigInteger)
