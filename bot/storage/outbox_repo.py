"""The delivery outbox seen from the sending side: claim, load, and record outcomes.

The alert engine writes `deliveries` rows (status pending). The outbox worker:

1. claims due rows with ONE statement (`claim_due`): whole (chat, cycle) groups, since
   one group is one digest message, recording who holds them until when; several
   workers on PostgreSQL never claim the same group (`bot.storage.outbox_claims`).
2. sends, then records the outcome per group in its own short transaction
   (`mark_sent`, `mark_retry`, `mark_failed`, `mark_dropped`), so a crash loses nothing.
   Outcome writes are idempotent: recording one twice changes nothing.
3. on start-up, `release_claims` makes rows claimed by a dead previous run due again
   (SQLite: every claim; PostgreSQL: the claims under this replica's name; another
   replica's dead claims come due when their lease ends): at most the messages in
   flight at the crash are sent twice.
4. `expire_stale` drops pending rows older than the expiry (reason `stale`): an alert
   hours late is noise, and a long outage must not end in a flood of old pushes.

Every function takes an open `AsyncSession`; the caller commits.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from sqlalchemy import and_, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.alerts.types import DeliveryStatus
from bot.storage.market_repo import rowcount
from bot.storage.models import AlertEvent, Chat, Delivery, Rule, ScoreSnapshot, Subscription
from bot.storage.outbox_claims import (
    CLAIM_REASON,
    ClaimedGroup,
    claim_due,
    held_by,
    release_claims,
    renew_claims,
)

STALE_REASON = "stale"


@dataclass(frozen=True, slots=True)
class AlertItem:
    """One alert as the renderer needs it: the event plus the key inputs of its cycle."""

    delivery_id: int
    event_id: int
    exchange: str
    symbol: str
    kind: str
    direction: str
    from_band: str | None
    to_band: str | None
    from_regime: str | None
    to_regime: str | None
    score: int
    bias: str
    regime: str
    oi_24h_pct: float | None
    funding_8h_pct: float | None
    basis_pct: float | None
    event_ms: int = 0  # when the event happened (its cycle's end)
    # The chat subscribed to this symbol itself (not only market-wide): listed first.
    own: bool = False
    # What the row shows (deliveries.kind): "alert", "catchup" (the event is the
    # symbol's current state) or "cap_note" (held by the daily cap).
    note: str = "alert"
    # A rule's event (kind "rule:<id>"): the rule's name and its text as stored.
    rule_name: str | None = None
    rule_text: str | None = None
    # The cycle's OI 1h and 4h too: with the three above, the score's inputs, which
    # "the last N times it looked like this" compares (bot/views/lookalike.py).
    oi_1h_pct: float | None = None
    oi_4h_pct: float | None = None
    # The symbol's own percentiles in its cycle (bot/scoring/percentile.py); None: unknown.
    funding_pctl_90d: int | None = None
    oi_24h_pctl_90d: int | None = None
    basis_pctl_90d: int | None = None
    # A cascade's event (kind "liquidations"): the side and the figures, as JSON.
    side: str | None = None
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class ChatInfo:
    chat_id: int
    type: str
    active: bool
    muted_until_ms: int | None


async def load_items(
    session: AsyncSession, delivery_ids: Collection[int], *, holder: str | None = None
) -> list[AlertItem]:
    """The events behind these deliveries, with OI 24h, funding 8h and basis from the
    event's own cycle (None if that snapshot is gone), and whether the chat subscribed to
    the event's symbol by name (`own`) rather than only market-wide. `own` is read from
    the subscriptions now, not stored at fan-out: one indexed EXISTS per row, no schema
    change, and an unsubscribe since then is honoured. With `holder`: only rows still
    claimed by it (several workers: a claim that lapsed and was taken over is not ours)."""
    if not delivery_ids:
        return []
    snap = ScoreSnapshot
    own = (
        select(Subscription.id)
        .where(
            Subscription.chat_id == Delivery.chat_id,
            Subscription.exchange == AlertEvent.exchange,
            Subscription.symbol == AlertEvent.symbol,
        )
        .exists()
    )
    stmt = (
        select(
            Delivery.id,
            AlertEvent,
            snap.oi_24h_pct,
            snap.funding_8h_pct,
            snap.basis_pct,
            own,
            Delivery.kind,
            Rule,
            snap.oi_1h_pct,
            snap.oi_4h_pct,
            snap.funding_pctl_90d,
            snap.oi_24h_pctl_90d,
            snap.basis_pctl_90d,
        )
        .join(AlertEvent, AlertEvent.id == Delivery.event_id)
        .outerjoin(Rule, Rule.id == AlertEvent.rule_id)
        .outerjoin(
            snap,
            and_(
                snap.cycle_id == AlertEvent.cycle_id,
                snap.exchange == AlertEvent.exchange,
                snap.symbol == AlertEvent.symbol,
            ),
        )
        .where(Delivery.id.in_(list(delivery_ids)))
        .where(*held_by(holder))
        .order_by(Delivery.id)
    )
    return [_alert_item(*tuple(row)) for row in (await session.execute(stmt)).all()]


def _alert_item(
    delivery_id: int,
    ev: AlertEvent,
    oi24: float | None,
    f8: float | None,
    basis: float | None,
    is_own: bool | None,
    note: str | None,
    rule: Rule | None,
    oi1: float | None = None,
    oi4: float | None = None,
    funding_pctl: int | None = None,
    oi_24h_pctl: int | None = None,
    basis_pctl: int | None = None,
) -> AlertItem:
    return AlertItem(
        delivery_id=delivery_id,
        event_id=ev.id,
        exchange=ev.exchange,
        symbol=ev.symbol,
        kind=ev.kind,
        direction=ev.direction,
        from_band=ev.from_band,
        to_band=ev.to_band,
        from_regime=ev.from_regime,
        to_regime=ev.to_regime,
        score=ev.score,
        bias=ev.bias,
        regime=ev.regime,
        oi_24h_pct=oi24,
        funding_8h_pct=f8,
        basis_pct=basis,
        event_ms=ev.created_ms,
        own=bool(is_own),
        note=note or "alert",
        rule_name=rule.name if rule is not None else None,
        rule_text=rule_text(rule) if rule is not None else None,
        oi_1h_pct=oi1,
        oi_4h_pct=oi4,
        funding_pctl_90d=funding_pctl,
        oi_24h_pctl_90d=oi_24h_pctl,
        basis_pctl_90d=basis_pctl,
        side=ev.side,
        detail=ev.detail,
    )


def rule_text(rule: Rule) -> str:
    """The rule as the user reads it back: condition, `for N cycles`, `on SYMBOL`."""
    text = rule.condition
    if rule.for_cycles > 1:
        text += f" for {rule.for_cycles} cycles"
    return text + (f" on {rule.symbol}" if rule.symbol else "")


async def load_chats(session: AsyncSession, chat_ids: Collection[int]) -> dict[int, ChatInfo]:
    if not chat_ids:
        return {}
    rows = await session.execute(
        select(Chat.id, Chat.type, Chat.active, Chat.muted_until_ms).where(
            Chat.id.in_(list(chat_ids))
        )
    )
    return {r.id: ChatInfo(r.id, r.type, bool(r.active), r.muted_until_ms) for r in rows.all()}


async def _set(
    session: AsyncSession, ids: Sequence[int], *, only_pending: bool = False, **values: object
) -> int:
    if not ids:
        return 0
    stmt = update(Delivery).where(Delivery.id.in_(list(ids)))
    if only_pending:
        stmt = stmt.where(Delivery.status == DeliveryStatus.PENDING)
    res = await session.execute(
        stmt.values(**values), execution_options={"synchronize_session": False}
    )
    return rowcount(res)


async def mark_sent(session: AsyncSession, ids: Sequence[int], now_ms: int) -> int:
    return await _set(
        session, ids, status=DeliveryStatus.SENT, sent_ms=now_ms, reason=None, last_error=None
    )


async def mark_retry(
    session: AsyncSession, ids: Sequence[int], next_attempt_ms: int, error: str
) -> int:
    return await _set(
        session,
        ids,
        status=DeliveryStatus.PENDING,
        reason=None,
        next_attempt_ms=next_attempt_ms,
        last_error=error[:500],
        claimed_by=None,
        claimed_until=None,
    )


async def mark_failed(session: AsyncSession, ids: Sequence[int], error: str) -> int:
    return await _set(
        session, ids, status=DeliveryStatus.FAILED, reason=None, last_error=error[:500]
    )


async def mark_dropped(
    session: AsyncSession, ids: Sequence[int], reason: str, error: str | None = None
) -> int:
    # A row already settled (dropped when its chat was deactivated) keeps its reason.
    return await _set(
        session,
        ids,
        only_pending=True,
        status=DeliveryStatus.DROPPED,
        reason=reason[:64],
        last_error=error,
    )


async def mark_suppressed(session: AsyncSession, ids: Sequence[int], reason: str) -> int:
    """Withhold rows at send time (the chat muted itself meanwhile). They are held, so
    their chats are owed a catch-up (chats.held_since_ms, docs/alerts.md).

    Writes only, no read first: a deferred SQLite transaction that reads and then
    writes fails at once if another connection committed in between."""
    if ids:
        rows = select(Delivery.chat_id).where(Delivery.id.in_(list(ids)))
        first = (
            select(func.min(Delivery.created_ms))
            .where(Delivery.id.in_(list(ids)), Delivery.chat_id == Chat.id)
            .scalar_subquery()
        )
        await session.execute(
            update(Chat)
            .where(Chat.id.in_(rows), Chat.held_since_ms.is_(None))
            .values(held_since_ms=first),
            execution_options={"synchronize_session": False},
        )
    return await _set(session, ids, status=DeliveryStatus.SUPPRESSED, reason=reason[:64])


async def due_now(session: AsyncSession, ids: Sequence[int], now_ms: int) -> int:
    """Make these pending, unclaimed rows due now (Telegram is back after an outage)."""
    done = 0
    for i in range(0, len(ids), 500):
        res = await session.execute(
            update(Delivery)
            .where(
                Delivery.id.in_(list(ids[i : i + 500])),
                Delivery.status == DeliveryStatus.PENDING,
                Delivery.reason.is_(None),
                Delivery.next_attempt_ms > now_ms,
            )
            .values(next_attempt_ms=now_ms),
            execution_options={"synchronize_session": False},
        )
        done += rowcount(res)
    return done


async def expire_stale(session: AsyncSession, cutoff_ms: int) -> int:
    """Drop pending rows created before `cutoff_ms` (reason `stale`). Claimed rows are
    left to the outbox worker that holds them: it drops them itself when it sees their age."""
    res = await session.execute(
        update(Delivery)
        .where(
            Delivery.status == DeliveryStatus.PENDING,
            Delivery.created_ms < cutoff_ms,
            (Delivery.reason.is_(None)) | (Delivery.reason != CLAIM_REASON),
        )
        .values(status=DeliveryStatus.DROPPED, reason=STALE_REASON),
        execution_options={"synchronize_session": False},
    )
    return rowcount(res)


async def next_due_ms(session: AsyncSession) -> int | None:
    value = await session.scalar(
        select(func.min(Delivery.next_attempt_ms)).where(Delivery.status == DeliveryStatus.PENDING)
    )
    return int(value) if value is not None else None


async def delivery_counts(session: AsyncSession) -> dict[str, int]:
    rows = await session.execute(select(Delivery.status, func.count()).group_by(Delivery.status))
    return {status: int(n) for status, n in rows.all()}


async def pending_for_chat(session: AsyncSession, chat_id: int) -> int:
    return int(
        await session.scalar(
            select(func.count()).where(
                Delivery.chat_id == chat_id, Delivery.status == DeliveryStatus.PENDING
            )
        )
        or 0
    )


__all__ = [
    "CLAIM_REASON",
    "STALE_REASON",
    "AlertItem",
    "ChatInfo",
    "ClaimedGroup",
    "claim_due",
    "delivery_counts",
    "due_now",
    "expire_stale",
    "load_chats",
    "load_items",
    "mark_dropped",
    "mark_failed",
    "mark_retry",
    "mark_sent",
    "mark_suppressed",
    "next_due_ms",
    "pending_for_chat",
    "release_claims",
    "renew_claims",
]
