"""Destinations (Discord and HTTPS webhooks) a chat attached: add, list, remove, and the
outbox's view of one (bot/storage/models/destinations.py). URLs and secrets arrive and
leave here encrypted; this module never sees them in clear.

Every function takes an open `AsyncSession`; the caller commits.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.alerts.types import DeliveryStatus
from bot.storage.market_repo import rowcount
from bot.storage.models import Delivery, Destination

GONE_REASON = "destination gone"


@dataclass(frozen=True, slots=True)
class StoredDestination:
    id: int
    chat_id: int
    kind: str
    label: str
    url_enc: str
    secret_enc: str | None
    active: bool
    deactivated_reason: str | None
    created_ms: int


def _stored(d: Destination) -> StoredDestination:
    return StoredDestination(
        d.id,
        d.chat_id,
        d.kind,
        d.label,
        d.url_enc,
        d.secret_enc,
        bool(d.active),
        d.deactivated_reason,
        d.created_ms,
    )


async def count_for_chat(session: AsyncSession, chat_id: int) -> int:
    n = await session.scalar(
        select(func.count()).select_from(Destination).where(Destination.chat_id == chat_id)
    )
    return int(n or 0)


async def add(
    session: AsyncSession,
    chat_id: int,
    kind: str,
    label: str,
    url_enc: str,
    secret_enc: str | None,
    now_ms: int,
) -> StoredDestination:
    row = Destination(
        chat_id=chat_id,
        kind=kind,
        label=label[:200],
        url_enc=url_enc,
        secret_enc=secret_enc,
        active=True,
        created_ms=now_ms,
    )
    session.add(row)
    await session.flush()
    return _stored(row)


async def for_chat(session: AsyncSession, chat_id: int) -> list[StoredDestination]:
    """The chat's destinations in the order /webhook list numbers them."""
    rows = await session.scalars(
        select(Destination).where(Destination.chat_id == chat_id).order_by(Destination.id)
    )
    return [_stored(d) for d in rows.all()]


async def get(session: AsyncSession, destination_id: int) -> StoredDestination | None:
    row = await session.get(Destination, destination_id)
    return None if row is None else _stored(row)


async def remove(session: AsyncSession, chat_id: int, destination_id: int) -> bool:
    """Delete it, if it is this chat's, and its outbox twins (sent ones too: a gone
    destination's history has no reader)."""
    res = await session.execute(
        delete(Destination).where(Destination.id == destination_id, Destination.chat_id == chat_id)
    )
    if rowcount(res) == 0:
        return False
    await session.execute(delete(Delivery).where(Delivery.destination_id == destination_id))
    return True


async def deactivate(session: AsyncSession, destination_id: int, reason: str) -> bool:
    """Turn it off and drop its pending rows. True only for the call that turned it off:
    several groups seeing the same 410 deactivate it, and tell the chat, once."""
    res = await session.execute(
        update(Destination)
        .where(Destination.id == destination_id, Destination.active.is_(True))
        .values(active=False, deactivated_reason=reason[:128]),
        execution_options={"synchronize_session": False},
    )
    if rowcount(res) == 0:
        return False
    await session.execute(
        update(Delivery)
        .where(
            Delivery.destination_id == destination_id,
            Delivery.status == DeliveryStatus.PENDING,
        )
        .values(status=DeliveryStatus.DROPPED, reason=GONE_REASON),
        execution_options={"synchronize_session": False},
    )
    return True
