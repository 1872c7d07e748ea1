"""Named queries for Telegram chats and their subscriptions.

Every function takes an open `AsyncSession`; the caller owns the transaction (the bot
opens one short transaction per command). `chats.id` is the Telegram chat id.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.alerts.types import DeliveryStatus
from bot.scoring.formula import Band
from bot.storage.market_repo import insert_ignore, rowcount
from bot.storage.models import Chat, Delivery, Destination, Rule, Subscription

KINDS = ("bands", "squeeze", "liquidations")
CHAT_SETTINGS = frozenset(
    {
        "min_band",
        "direction",
        "cooldown_minutes",
        "quiet_start_min",
        "quiet_end_min",
        "muted_until_ms",
        "tz",
        "daily_cap",
    }
)


# ---------------------------------------------------------------- chats


async def upsert_chat(
    session: AsyncSession,
    chat_id: int,
    chat_type: str,
    title: str | None,
    now_ms: int,
    default_min_band: str = Band.STRETCHED,
    *,
    reactivate: bool = True,
) -> Chat:
    """Create the chat on first contact. A chat that talks to the bot is reachable, so
    it is reactivated (unless `reactivate=False`)."""
    title = title[:128] if title else None
    await insert_ignore(
        session,
        Chat,
        [
            {
                "id": chat_id,
                "type": chat_type,
                "title": title,
                "active": True,
                "min_band": default_min_band,
                "direction": "both",
                "created_ms": now_ms,
            }
        ],
    )
    values: dict[str, object] = {"type": chat_type, "title": title}
    if reactivate:
        values.update(active=True, deactivated_reason=None)
    await session.execute(update(Chat).where(Chat.id == chat_id).values(**values))
    chat = await session.get(Chat, chat_id, populate_existing=True)
    assert chat is not None
    return chat


async def get_chat(session: AsyncSession, chat_id: int) -> Chat | None:
    return await session.get(Chat, chat_id, populate_existing=True)


async def update_chat_settings(session: AsyncSession, chat_id: int, **values: object) -> None:
    unknown = set(values) - CHAT_SETTINGS
    if unknown:
        raise ValueError(f"not a chat setting: {sorted(unknown)}")
    await session.execute(update(Chat).where(Chat.id == chat_id).values(**values))


async def deactivate_chat(session: AsyncSession, chat_id: int, reason: str) -> int:
    """Mark the chat unreachable and drop its pending deliveries; returns how many."""
    reason = reason[:64]
    await session.execute(
        update(Chat).where(Chat.id == chat_id).values(active=False, deactivated_reason=reason)
    )
    res = await session.execute(
        update(Delivery)
        .where(Delivery.chat_id == chat_id, Delivery.status == DeliveryStatus.PENDING)
        .values(status=DeliveryStatus.DROPPED, reason=reason)
    )
    return rowcount(res)


async def migrate_chat(session: AsyncSession, old_id: int, new_id: int) -> None:
    """A group became a supergroup: move the chat row, its subscriptions, rules,
    destinations and its pending deliveries to the new id. Works whether or not the new
    id exists yet."""
    if old_id == new_id:
        return
    old = await session.get(Chat, old_id)
    if old is None:
        return
    new = await session.get(Chat, new_id)
    if new is None:
        # The simple case: rewrite the key; ON UPDATE CASCADE carries subscriptions and
        # deliveries (all of them, history included) to the new id.
        await session.execute(
            update(Chat).where(Chat.id == old_id).values(id=new_id, type="supergroup")
        )
        session.expunge(old)
        return
    # Subscriptions the new chat already has win; the rest move over.
    taken = select(Subscription.exchange, Subscription.symbol, Subscription.kind).where(
        Subscription.chat_id == new_id
    )
    existing = {tuple(r) for r in (await session.execute(taken)).all()}
    subs = (await session.scalars(select(Subscription).where(Subscription.chat_id == old_id))).all()
    for sub in subs:
        if (sub.exchange, sub.symbol, sub.kind) in existing:
            await session.delete(sub)
        else:
            sub.chat_id = new_id
    # Rules move too, unless the new chat has one of the same name (docs/rules.md).
    names = select(Rule.name).where(Rule.chat_id == new_id)
    await session.execute(
        update(Rule).where(Rule.chat_id == old_id, Rule.name.not_in(names)).values(chat_id=new_id)
    )
    # Its Discord and HTTPS destinations too (the per-chat cap is checked only at add).
    await session.execute(
        update(Destination).where(Destination.chat_id == old_id).values(chat_id=new_id)
    )
    await session.flush()
    # Pending deliveries follow (unless the new chat already has the same event).
    dup_events = select(Delivery.event_id).where(Delivery.chat_id == new_id)
    await session.execute(
        update(Delivery)
        .where(
            Delivery.chat_id == old_id,
            Delivery.status == DeliveryStatus.PENDING,
            Delivery.event_id.not_in(dup_events),
        )
        .values(chat_id=new_id)
    )
    await session.execute(
        update(Delivery)
        .where(Delivery.chat_id == old_id, Delivery.status == DeliveryStatus.PENDING)
        .values(status=DeliveryStatus.DROPPED, reason="migrated (duplicate)")
    )
    await session.execute(
        update(Chat)
        .where(Chat.id == old_id)
        .values(active=False, deactivated_reason=f"migrated to {new_id}")
    )


# ---------------------------------------------------------------- subscriptions


@dataclass(frozen=True, slots=True)
class SubscribeResult:
    added: list[str]  # kinds newly added
    existing: list[str]  # kinds that were already there
    over_cap: bool = False


async def count_subscribed_symbols(session: AsyncSession, chat_id: int) -> int:
    """The per-chat cap counts distinct symbols (market-wide counts as one)."""
    return int(
        await session.scalar(
            select(func.count(func.distinct(Subscription.symbol))).where(
                Subscription.chat_id == chat_id
            )
        )
        or 0
    )


async def subscribe(
    session: AsyncSession,
    chat_id: int,
    exchange: str,
    symbol: str,
    kinds: Iterable[str],
    now_ms: int,
    *,
    cap: int,
    min_band: str | None = None,
) -> SubscribeResult:
    """Add (symbol, kind) rows; update min_band of existing ones when one is given."""
    kinds = [k for k in KINDS if k in set(kinds)]
    rows = (
        await session.scalars(
            select(Subscription).where(
                Subscription.chat_id == chat_id,
                Subscription.exchange == exchange,
                Subscription.symbol == symbol,
            )
        )
    ).all()
    have = {r.kind: r for r in rows}
    if not rows and await count_subscribed_symbols(session, chat_id) >= cap:
        return SubscribeResult(added=[], existing=[], over_cap=True)
    added, existing = [], []
    for kind in kinds:
        if kind in have:
            existing.append(kind)
            if min_band is not None and have[kind].min_band != min_band:
                have[kind].min_band = min_band
            continue
        added.append(kind)
    await insert_ignore(
        session,
        Subscription,
        [
            {
                "chat_id": chat_id,
                "exchange": exchange,
                "symbol": symbol,
                "kind": kind,
                "min_band": min_band,
                "created_ms": now_ms,
            }
            for kind in added
        ],
    )
    return SubscribeResult(added=added, existing=existing)


async def unsubscribe(
    session: AsyncSession,
    chat_id: int,
    exchange: str | None = None,
    symbol: str | None = None,
    kinds: Sequence[str] | None = None,
) -> int:
    """Remove a chat's subscriptions: one symbol (optionally some kinds), or all."""
    stmt = delete(Subscription).where(Subscription.chat_id == chat_id)
    if exchange is not None:
        stmt = stmt.where(Subscription.exchange == exchange)
    if symbol is not None:
        stmt = stmt.where(Subscription.symbol == symbol)
    if kinds is not None:
        stmt = stmt.where(Subscription.kind.in_(list(kinds)))
    res = await session.execute(stmt)
    return rowcount(res)


async def list_subscriptions(
    session: AsyncSession, chat_id: int, exchange: str | None = None
) -> list[Subscription]:
    stmt = select(Subscription).where(Subscription.chat_id == chat_id)
    if exchange is not None:
        stmt = stmt.where(Subscription.exchange == exchange)
    rows = await session.scalars(stmt.order_by(Subscription.symbol, Subscription.kind))
    return list(rows.all())


async def is_subscribed(session: AsyncSession, chat_id: int, exchange: str, symbol: str) -> bool:
    found = await session.scalar(
        select(Subscription.id)
        .where(
            Subscription.chat_id == chat_id,
            Subscription.exchange == exchange,
            Subscription.symbol == symbol,
        )
        .limit(1)
    )
    return found is not None


async def subscribed_symbols(session: AsyncSession, exchange: str) -> set[str]:
    """Every symbol an active chat follows on `exchange` (market-wide ones aside): the
    charts drawn ahead after each cycle (bot/telegram/chart_prerender.py)."""
    rows = await session.scalars(
        select(Subscription.symbol)
        .distinct()
        .join(Chat, Chat.id == Subscription.chat_id)
        .where(
            Subscription.exchange == exchange,
            Subscription.symbol != "*",
            Chat.active.is_(True),
        )
    )
    return set(rows.all())


# ---------------------------------------------------------------- /status


@dataclass(frozen=True, slots=True)
class ChatCounts:
    chats_total: int
    chats_active: int
    subscriptions: int


async def chat_counts(session: AsyncSession) -> ChatCounts:
    total = await session.scalar(select(func.count()).select_from(Chat))
    active = await session.scalar(select(func.count()).where(Chat.active.is_(True)))
    subs = await session.scalar(select(func.count()).select_from(Subscription))
    return ChatCounts(int(total or 0), int(active or 0), int(subs or 0))
