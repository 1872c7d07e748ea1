"""Held alerts and catch-ups: which chats had pushes held (mute, quiet hours, daily
cap), what they missed, and the `state` events a catch-up shows. Takes an open session
and never commits: the catch-up commits with the cycle, so it is neither lost nor repeated.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.alerts.types import HOLD_REASONS, ChatPrefs, DeliveryKind, DeliveryStatus, HeldAlert
from bot.storage.alert_repo import PREF_COLUMNS, STATE_KIND, chat_prefs, chunked
from bot.storage.market_repo import insert_ignore
from bot.storage.models import AlertEvent, Chat, Delivery, Subscription


async def mark_held(session: AsyncSession, chat_ids: Collection[int], now_ms: int) -> None:
    """These chats had alerts held: they owe a catch-up (kept from the first hold)."""
    for chunk in chunked(chat_ids):
        await session.execute(
            update(Chat)
            .where(Chat.id.in_(chunk), Chat.held_since_ms.is_(None))
            .values(held_since_ms=now_ms),
            execution_options={"synchronize_session": False},
        )


# Built once, like every statement a cycle runs whatever happened (rule_repo.py).
_HELD_CHATS = select(*PREF_COLUMNS, Chat.held_since_ms).where(
    Chat.held_since_ms.is_not(None), Chat.active.is_(True)
)


async def held_chats(session: AsyncSession) -> dict[int, tuple[ChatPrefs, int]]:
    """Active chats owed a catch-up: their preferences and since when alerts were held."""
    out: dict[int, tuple[ChatPrefs, int]] = {}
    for *prefs, since in (await session.execute(_HELD_CHATS)).all():
        out[prefs[0]] = (chat_prefs(*prefs), int(since))
    return out


async def clear_held(session: AsyncSession, chat_ids: Collection[int]) -> None:
    for chunk in chunked(chat_ids):
        await session.execute(
            update(Chat).where(Chat.id.in_(chunk)).values(held_since_ms=None),
            execution_options={"synchronize_session": False},
        )


async def held_alerts(
    session: AsyncSession, exchange: str, since: Mapping[int, int]
) -> tuple[dict[int, list[HeldAlert]], dict[str, tuple[int, str]]]:
    """Held deliveries per chat since its `since` (oldest first), and the latest held
    score and bias per symbol (a fallback for a symbol not scored this cycle)."""
    held: dict[int, list[HeldAlert]] = {}
    latest: dict[str, tuple[int, int, str]] = {}
    hold = [r.value for r in HOLD_REASONS]
    for chunk in chunked(since):
        stmt = (
            select(
                Delivery.chat_id,
                Delivery.created_ms,
                AlertEvent.id,
                AlertEvent.symbol,
                AlertEvent.kind,
                AlertEvent.from_band,
                AlertEvent.from_regime,
                AlertEvent.score,
                AlertEvent.bias,
            )
            .join(AlertEvent, AlertEvent.id == Delivery.event_id)
            .where(
                Delivery.chat_id.in_(chunk),
                Delivery.destination_id == 0,  # the chat's own rows; twins repeat them
                Delivery.created_ms >= min(since[c] for c in chunk),
                AlertEvent.exchange == exchange,
                or_(
                    and_(Delivery.status == DeliveryStatus.SUPPRESSED, Delivery.reason.in_(hold)),
                    Delivery.kind == DeliveryKind.CAP_NOTE.value,
                ),
            )
            .order_by(AlertEvent.id)
        )
        for chat_id, created, ev_id, symbol, kind, frm_band, frm_regime, score, bias in (
            await session.execute(stmt)
        ).all():
            if created < since[chat_id]:
                continue
            held.setdefault(chat_id, []).append(HeldAlert(symbol, kind, frm_band, frm_regime))
            if symbol not in latest or latest[symbol][0] < ev_id:
                latest[symbol] = (ev_id, score, bias)
    return held, {s: (score, bias) for s, (_, score, bias) in latest.items()}


async def subscribed_symbols(
    session: AsyncSession, exchange: str, chat_ids: Collection[int]
) -> dict[int, set[str]]:
    """Symbols each chat follows (MARKET for a market-wide subscription)."""
    out: dict[int, set[str]] = {}
    for chunk in chunked(chat_ids):
        stmt = select(Subscription.chat_id, Subscription.symbol).where(
            Subscription.chat_id.in_(chunk), Subscription.exchange == exchange
        )
        for chat_id, symbol in (await session.execute(stmt)).all():
            out.setdefault(chat_id, set()).add(symbol)
    return out


async def insert_state_events(
    session: AsyncSession,
    exchange: str,
    cycle_id: int,
    created_ms: int,
    states: Mapping[str, tuple[str, str, int, str]],
) -> dict[str, int]:
    """One `state` event per symbol (band, regime, score, bias) for this cycle's
    catch-ups; returns their ids. Idempotent like every event."""
    if not states:
        return {}
    rows = [
        {
            "exchange": exchange,
            "cycle_id": cycle_id,
            "created_ms": created_ms,
            "symbol": symbol,
            "kind": STATE_KIND,
            "direction": "now",
            "from_band": None,
            "to_band": band,
            "from_regime": None,
            "to_regime": regime,
            "score": score,
            "bias": bias,
            "regime": regime,
        }
        for symbol, (band, regime, score, bias) in sorted(states.items())
    ]
    await insert_ignore(session, AlertEvent, rows)
    stmt = select(AlertEvent.symbol, AlertEvent.id).where(
        AlertEvent.exchange == exchange,
        AlertEvent.cycle_id == cycle_id,
        AlertEvent.kind == STATE_KIND,
    )
    return {symbol: ev_id for symbol, ev_id in (await session.execute(stmt)).all()}
