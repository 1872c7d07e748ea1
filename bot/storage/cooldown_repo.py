"""Reads behind the fan-out's cooldown and daily cap: the latest push per (chat, symbol,
kind) and the pushes of a chat's day. Like every alert query, they take an open session
and never commit (the scorer owns the cycle's transaction).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.alerts.types import (
    COOLDOWN_STATUSES,
    STATE_SIG,
    CooldownKey,
    DayPush,
    DeliveryKind,
    EventKind,
    LastAlert,
    transition_sig,
)
from bot.storage.alert_repo import STATE_KIND, chunked
from bot.storage.models import AlertEvent, Delivery


async def last_alert_times(
    session: AsyncSession, exchange: str, symbols: Iterable[str], since_ms: int
) -> dict[CooldownKey, LastAlert]:
    """Latest pending/sent delivery per (chat, symbol, event kind) since `since_ms`, with
    the transition it showed (`types.transition_sig`), so the fan-out can tell a repeat
    (cooled down) from a reversal (always sent).

    One grouped query, from alert_events by symbol into deliveries by event_id. Status is
    filtered here, not in SQL: a status condition lures SQLite (no statistics) into
    walking ix_deliveries_pending over every sent row kept for a week. A catch-up (a
    state event) counts for both kinds of its symbol: whatever comes next is news.
    """
    wanted = sorted(set(symbols))
    if not wanted:
        return {}
    params = {"exchange": exchange, "symbols": wanted, "since_ms": since_ms}
    return _latest_per_key((await session.execute(_LAST_ALERTS, params)).all())


# Built once, like every statement a cycle runs whatever happened (rule_repo.py).
_LAST_ALERT_KEY = (
    Delivery.chat_id,
    AlertEvent.symbol,
    AlertEvent.kind,
    AlertEvent.direction,
    AlertEvent.to_regime,
    AlertEvent.side,
    Delivery.status,
    Delivery.kind,
)
_LAST_ALERTS = (
    select(*_LAST_ALERT_KEY, func.max(Delivery.created_ms))
    .select_from(AlertEvent)
    .join(Delivery, Delivery.event_id == AlertEvent.id)
    .where(
        AlertEvent.exchange == bindparam("exchange"),
        AlertEvent.symbol.in_(bindparam("symbols", expanding=True)),
        AlertEvent.created_ms >= bindparam("since_ms"),
    )
    .group_by(*_LAST_ALERT_KEY)
)


def _latest_per_key(rows: Iterable[Sequence[Any]]) -> dict[CooldownKey, LastAlert]:
    """Folds the grouped rows into the newest counted push per cooldown key."""
    counted = {s.value for s in COOLDOWN_STATUSES}
    latest: dict[CooldownKey, LastAlert] = {}
    for chat_id, symbol, kind, direction, to_regime, side, status, dkind, last in rows:
        if status not in counted or dkind == DeliveryKind.CAP_NOTE:
            continue  # a cap note showed no transition
        if kind == STATE_KIND:
            keys, sig = [(chat_id, symbol, k.value) for k in EventKind], STATE_SIG
        else:
            keys, sig = [(chat_id, symbol, kind)], transition_sig(kind, direction, to_regime, side)
        created = int(last)
        for key in keys:
            seen = latest.get(key)
            # A catch-up and an alert in one cycle: the alert is the newer word.
            newer = seen is None or created > seen.created_ms
            tie_won = seen is not None and created == seen.created_ms and sig != STATE_SIG
            if newer or tie_won:
                latest[key] = LastAlert(created, sig)
    return latest


async def day_pushes(
    session: AsyncSession, chat_ids: Collection[int], since_ms: int, cycle_id: int
) -> dict[int, list[DayPush]]:
    """Earlier pushes to these chats since `since_ms` (one per cycle with a pending or
    sent row), for the daily cap; `cycle_id` (this one) is left out. Served by
    ix_deliveries_chat; a chat's rows per day are bounded by its cap."""
    out: dict[int, dict[int, DayPush]] = {}
    counted = {s.value for s in COOLDOWN_STATUSES}
    for chunk in chunked(chat_ids):
        stmt = (
            select(
                Delivery.chat_id,
                Delivery.cycle_id,
                Delivery.status,
                Delivery.kind,
                func.max(Delivery.created_ms),
            )
            .where(Delivery.chat_id.in_(chunk), Delivery.created_ms >= since_ms)
            .group_by(Delivery.chat_id, Delivery.cycle_id, Delivery.status, Delivery.kind)
        )
        for chat_id, cyc, status, kind, created in (await session.execute(stmt)).all():
            if status not in counted or cyc == cycle_id:
                continue
            pushes = out.setdefault(chat_id, {})
            note = kind == DeliveryKind.CAP_NOTE
            prev = pushes.get(cyc)
            pushes[cyc] = DayPush(int(created), note or (prev is not None and prev.cap_note))
    return {chat_id: list(p.values()) for chat_id, p in out.items()}
