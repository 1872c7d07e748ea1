"""What replicas share: leases, command counts, the send pace."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Index,
    Integer,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

from bot.storage.models.base import Base


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
