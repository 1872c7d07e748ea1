"""Subscriptions asked for before the market was loaded (`PendingSubscription`).

A request is resolved by deleting its row with `take` in the transaction that acts on
it: the one process whose delete removed the row sends the follow-up, so each request
gets exactly one answer even when several replicas see the first cycle together.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage.market_repo import insert_ignore, rowcount
from bot.storage.models import PendingSubscription


async def keep(
    session: AsyncSession,
    chat_id: int,
    symbols: Sequence[str],
    exchange: str,
    kinds: Sequence[str],
    now_ms: int,
) -> None:
    """Store each symbol as typed; asking again for the same one keeps the first."""
    rows = [
        {
            "chat_id": chat_id,
            "symbol": symbol[:40],
            "exchange": exchange,
            "kinds": ",".join(kinds),
            "requested_ms": now_ms,
        }
        for symbol in dict.fromkeys(symbols)
    ]
    await insert_ignore(session, PendingSubscription, rows)


async def waiting(session: AsyncSession) -> list[PendingSubscription]:
    """Oldest first: the first to ask is the first answered."""
    result = await session.scalars(select(PendingSubscription).order_by(PendingSubscription.id))
    return list(result.all())


async def take(session: AsyncSession, pending_id: int) -> bool:
    """Delete the request; False when another process already resolved it."""
    result = await session.execute(
        delete(PendingSubscription).where(PendingSubscription.id == pending_id)
    )
    return rowcount(result) == 1
