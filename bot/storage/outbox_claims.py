"""Claims on outbox rows: which outbox worker sends which (chat, destination, cycle)
group, until when (destination 0 is the chat itself).

A claim is one UPDATE on the group's pending rows: `attempts` + 1, `reason='claimed'`,
`claimed_by` = the replica's name, `claimed_until` = `next_attempt_ms` = the lease end.
Whole (chat, cycle) groups are claimed together: one group is one digest message.

Several workers (PostgreSQL). A MATERIALIZED CTE locks each candidate group's leader
row (its lowest due id) `FOR UPDATE SKIP LOCKED`, once, then the UPDATE claims every
due row of the groups whose leader it locked. A second worker claiming at the same
moment skips those leaders instead of waiting on them, and once the first commits its
re-check of `next_attempt_ms <= now` (READ COMMITTED re-reads a row it locks) finds
them claimed: two workers never claim the same group, never split one, and never block
each other. (Without MATERIALIZED the planner may re-run the locking subquery per row
updated, and a re-run sees the rows this very UPDATE just claimed: it picks others.)
The holder renews its claims while it works on them (`renew_claims`); a claim whose
lease passed (its worker died) is due again, so any worker takes it over. Lease times
are on the database clock (`bot.storage.leases.db_now_ms`) so hosts' clocks may differ.

On start a worker releases only the claims held under its own replica name (a previous
incarnation of the same configured name): another replica's live claims are its own
business. SQLite has one worker: it releases every claim at start, as before.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Select, case, func, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from bot.alerts.types import DeliveryStatus
from bot.storage.leases import db_now_ms
from bot.storage.market_repo import rowcount
from bot.storage.models import Delivery

CLAIM_REASON = "claimed"
# Candidate groups read per group wanted: room to skip groups other workers are
# claiming at this moment without coming back empty-handed.
_OVERFETCH = 4


@dataclass(slots=True)
class ClaimedGroup:
    """Pending deliveries to one chat (or one of its destinations) from one cycle: one
    digest message."""

    chat_id: int
    cycle_id: int
    delivery_ids: list[int] = field(default_factory=list)
    attempts: int = 0  # the highest attempt number among the rows, this one included
    created_ms: int = 0  # the oldest row's: the group's age decides its expiry
    destination_id: int = 0  # 0: the chat itself (Telegram); else a destinations.id


def due(now_ms: int, d: Any = Delivery) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
    return (d.status == DeliveryStatus.PENDING, d.next_attempt_ms <= now_ms)


def _dialect(session: AsyncSession) -> str:
    return session.bind.dialect.name if session.bind is not None else "sqlite"


def _group_leads(
    session: AsyncSession, now_ms: int, max_groups: int
) -> Select[tuple[int, int, int]]:
    """The (chat, destination, cycle) keys of the groups to claim, oldest first."""
    d = aliased(Delivery)  # the subqueries' own table: never correlated to the UPDATE's
    groups = (
        select(d.chat_id, d.destination_id, d.cycle_id, func.min(d.id).label("lead"))
        .where(*due(now_ms, d))
        .group_by(d.chat_id, d.destination_id, d.cycle_id)
        .order_by(func.min(d.next_attempt_ms), func.min(d.id))
    )
    if _dialect(session) == "postgresql":
        cand = groups.limit(max_groups * _OVERFETCH).subquery()
        lead = aliased(Delivery)
        locked = (
            select(lead.chat_id, lead.destination_id, lead.cycle_id)
            .where(lead.id.in_(select(cand.c.lead)), *due(now_ms, lead))
            .order_by(lead.next_attempt_ms, lead.id)
            .limit(max_groups)
            .with_for_update(skip_locked=True)
            .cte("claim_leads")
            .prefix_with("MATERIALIZED")  # locked once, not re-run per row updated
        )
        leads: Select[tuple[int, int, int]] = select(
            locked.c.chat_id, locked.c.destination_id, locked.c.cycle_id
        )
    else:  # one writer at a time: the plain group select is enough
        sub = groups.limit(max_groups).subquery()
        leads = select(sub.c.chat_id, sub.c.destination_id, sub.c.cycle_id)
    return leads


async def claim_due(
    session: AsyncSession,
    now_ms: int,
    *,
    max_groups: int,
    lease_ms: int,
    holder: str = "local",
) -> list[ClaimedGroup]:
    """Claim up to `max_groups` due (chat, destination, cycle) groups, oldest first, in
    one UPDATE. A destination's rows are a group of their own: one webhook down must not
    hold the chat's Telegram message, nor the other way round."""
    leads = _group_leads(session, now_ms, max_groups)
    until = now_ms + lease_ms
    stmt = (
        update(Delivery)
        .where(
            *due(now_ms),
            tuple_(Delivery.chat_id, Delivery.destination_id, Delivery.cycle_id).in_(leads),
        )
        .values(
            attempts=Delivery.attempts + 1,
            next_attempt_ms=until,
            reason=CLAIM_REASON,
            claimed_by=holder[:128],
            claimed_until=until,
        )
        .returning(
            Delivery.id,
            Delivery.chat_id,
            Delivery.cycle_id,
            Delivery.attempts,
            Delivery.created_ms,
            Delivery.destination_id,
        )
    )
    result = await session.execute(stmt, execution_options={"synchronize_session": False})
    out: dict[tuple[int, int, int], ClaimedGroup] = {}
    for delivery_id, chat_id, cycle_id, attempts, created_ms, dest in sorted(result.all()):
        group = out.get((chat_id, dest, cycle_id))
        if group is None:
            group = out[(chat_id, dest, cycle_id)] = ClaimedGroup(
                chat_id, cycle_id, created_ms=created_ms, destination_id=dest
            )
        group.delivery_ids.append(delivery_id)
        group.attempts = max(group.attempts, attempts)
        group.created_ms = min(group.created_ms, created_ms)
    return sorted(out.values(), key=lambda g: g.delivery_ids[0])


def _claimed() -> tuple[ColumnElement[bool], ColumnElement[bool]]:
    return (Delivery.status == DeliveryStatus.PENDING, Delivery.reason == CLAIM_REASON)


async def release_claims(
    session: AsyncSession,
    now_ms: int,
    ids: Sequence[int] | None = None,
    *,
    undo_attempt: bool = False,
    holder: str | None = None,
) -> int:
    """Make claimed rows due now. Without `ids`: every claim (SQLite's single worker at
    start-up), or with `holder` every claim held under that name (a previous run of this
    replica). `undo_attempt` when nothing was sent."""
    stmt = update(Delivery).where(*_claimed())
    if ids is not None:
        if not ids:
            return 0
        stmt = stmt.where(Delivery.id.in_(list(ids)))
    if _dialect(session) == "postgresql":  # due now for workers on the database clock
        now_ms = min(now_ms, await db_now_ms(session))
    if holder is not None:
        stmt = stmt.where(Delivery.claimed_by == holder[:128])
    values: dict[str, object] = {
        "reason": None,
        "next_attempt_ms": now_ms,
        "claimed_by": None,
        "claimed_until": None,
    }
    if undo_attempt:
        values["attempts"] = case((Delivery.attempts > 0, Delivery.attempts - 1), else_=0)
    res = await session.execute(
        stmt.values(**values), execution_options={"synchronize_session": False}
    )
    return rowcount(res)


async def renew_claims(
    session: AsyncSession, ids: Sequence[int], now_ms: int, lease_ms: int, holder: str
) -> int:
    """Push the lease of our own live claims on `ids` out to now + lease. A claim that
    already lapsed and was taken over by another worker is not ours any more."""
    if not ids:
        return 0
    until = now_ms + lease_ms
    done = 0
    for i in range(0, len(ids), 500):
        res = await session.execute(
            update(Delivery)
            .where(
                Delivery.id.in_(list(ids[i : i + 500])),
                *_claimed(),
                Delivery.claimed_by == holder[:128],
            )
            .values(next_attempt_ms=until, claimed_until=until),
            execution_options={"synchronize_session": False},
        )
        done += rowcount(res)
    return done


def held_by(holder: str | None) -> tuple[ColumnElement[bool], ...]:
    """Rows still claimed by `holder` (nothing to require when None)."""
    if holder is None:
        return ()
    return (*_claimed(), Delivery.claimed_by == holder[:128])


__all__ = [
    "CLAIM_REASON",
    "ClaimedGroup",
    "claim_due",
    "due",
    "held_by",
    "release_claims",
    "renew_claims",
]
