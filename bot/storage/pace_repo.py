"""The bot token's send budget shared by outbox workers: one `send_pace` row per budget.

`next_ms` is the next free send slot (database clock, epoch ms). A worker reserves a
block of slots in one upsert: `next_ms = GREATEST(next_ms, now) + cost`; the block is
[returned - cost, returned). Whoever reserves next starts after it, so N workers
together never plan more than the budget's rate (bot/telegram/pace.py spends them).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage.leases import db_now_ms
from bot.storage.models import SendPace

GLOBAL = "global"  # the free budget: about 30 messages/s per bot
PAID = "paid"  # paid broadcast (allow_paid_broadcast): up to 1000 messages/s


@dataclass(frozen=True, slots=True)
class Reservation:
    start_ms: int  # the block's first slot (database clock)
    end_ms: int  # just past its last slot
    now_ms: int  # the database clock when reserved


async def reserve(session: AsyncSession, budget: str, cost_ms: int) -> Reservation:
    """Reserve `cost_ms` of the budget's time line; inside a write transaction. The row
    is created on first use."""
    now = await db_now_ms(session)
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    greatest = func.greatest if dialect == "postgresql" else func.max
    stmt = (
        insert(SendPace)
        .values(name=budget, next_ms=now + cost_ms)
        .on_conflict_do_update(
            index_elements=[SendPace.name],
            set_={"next_ms": greatest(SendPace.next_ms, now) + cost_ms},
        )
        .returning(SendPace.next_ms)
    )
    end = int((await session.execute(stmt)).scalar_one())
    return Reservation(start_ms=end - cost_ms, end_ms=end, now_ms=now)


__all__ = ["GLOBAL", "PAID", "Reservation", "reserve"]
