"""Destinations beside Telegram chats: a Discord or HTTPS webhook a chat attached
(/webhook; docs/alerts.md, "Destinations"). It mirrors its chat's subscriptions and
rules: every pending outbox row for the chat gets a twin with `destination_id` set.

The URL and the signing secret are stored encrypted (Fernet, `destinations.secret_key`:
bot/destinations/secret_box.py), so a database dump alone does not reveal them; `label`
(host and a masked path) is what replies and logs show.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bot.storage.models.base import Base


class Destination(Base):
    __tablename__ = "destinations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    chat_id: Mapped[int] = mapped_column(
        ForeignKey("chats.id", ondelete="CASCADE", onupdate="CASCADE")
    )
    kind: Mapped[str] = mapped_column(String(16))  # "discord" | "https"
    label: Mapped[str] = mapped_column(String(200))  # host + masked path: safe to show
    url_enc: Mapped[str] = mapped_column(Text)  # Fernet token of the URL
    secret_enc: Mapped[str | None] = mapped_column(Text)  # Fernet token; https only
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Why it stopped (the receiver answered 404/401/410), shown by /webhook list.
    deactivated_reason: Mapped[str | None] = mapped_column(String(128))
    created_ms: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (Index("ix_destinations_chat", "chat_id"),)
