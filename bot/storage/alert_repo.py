"""Named queries for the alert engine: state, events, subscriptions, outbox rows.

Cooldown and daily-cap reads live in `bot.storage.cooldown_repo`, held alerts and
catch-ups in `bot.storage.catchup_repo`; both share this module's helpers.

Every function takes an open `AsyncSession` and never commits: the scorer owns the cycle's
single transaction. Each is one (batched) statement, never one per symbol or per
subscription, so a cycle's fan-out is a handful of round trips (bench/fanout.py).
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Mapping, Sequence
from dataclasses import fields
from typing import Any

from sqlalchemy import bindparam, insert, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.expression import Executable

from bot.alerts.types import (
    ChatPrefs,
    DeliveryKind,
    DeliveryStatus,
    Event,
    PlannedDelivery,
    Sub,
    SubKind,
    SuppressReason,
    SymbolState,
)
from bot.scoring.formula import Band, Regime
from bot.storage.bulk import insert_ignore_many, update_many
from bot.storage.leases import db_now_ms
from bot.storage.models import (
    AlertEvent,
    AlertState,
    Chat,
    Delivery,
    Destination,
    Subscription,
)
from bot.zones import zone

# Event kind of a catch-up's event: the symbol's current state, shared by every chat
# caught up in that cycle (unique per exchange, symbol, kind, cycle like any event).
STATE_KIND = "state"
# Longest bind list per statement: SQLite and asyncpg cap parameters at ~32k.
_CHUNK = 5000


def chunked(ids: Collection[int]) -> list[list[int]]:
    ordered = sorted(ids)
    return [ordered[i : i + _CHUNK] for i in range(0, len(ordered), _CHUNK)]


# ---------------------------------------------------------------- state


async def load_states(
    session: AsyncSession, exchange: str
) -> tuple[dict[str, SymbolState], set[str]]:
    """Every symbol's confirmed state on one exchange (~600 rows), and every symbol that
    has a row. A row this version cannot read (a renamed band or regime) is left out of
    the states: that symbol is re-initialised silently rather than failing each cycle."""
    states: dict[str, SymbolState] = {}
    stored: set[str] = set()
    rows = await session.execute(_STATES_OF, {"exchange": exchange})
    for row in rows.mappings():
        stored.add(row["symbol"])
        values = {name: row[name] for name in _STATE_FIELDS}
        try:
            for name, enum in _STATE_ENUMS.items():
                values[name] = enum(values[name]) if values[name] else None
            values["candidate_bands"] = _streak(row)
        except ValueError:
            continue
        states[row["symbol"]] = SymbolState(**values)
    return states, stored


# Built once, like every statement a cycle runs whatever happened (rule_repo.py).
_STATES_OF = select(AlertState.__table__).where(
    AlertState.__table__.c.exchange == bindparam("exchange")
)


async def save_states(
    session: AsyncSession,
    exchange: str,
    states: Mapping[str, SymbolState],
    existing: Collection[str],
) -> None:
    """Insert new rows and update those in `existing`, each as one batched statement.

    Plain INSERT and UPDATE-by-primary-key rather than an upsert: dialect-neutral, and
    the single scorer (docs/operations.md, Scaling up) is the only writer of this table.
    Every symbol's row changes every cycle (`last_cycle_id`), so the update is ~600 rows:
    plain tuples through `bulk.update_many`, not the ORM's bulk UPDATE of dicts.
    """
    new = [_state_row(exchange, s, st) for s, st in states.items() if s not in existing]
    old = [(*_state_values(st), exchange, s) for s, st in states.items() if s in existing]
    if new:
        await session.execute(insert(AlertState), new)
    await update_many(session, AlertState, _STATE_KEYS, _STATE_COLUMNS, old)


# SymbolState fields are AlertState columns of the same names; these hold enums.
_STATE_FIELDS = [f.name for f in fields(SymbolState)]
_STATE_ENUMS = {"band": Band, "regime": Regime, "candidate_band": Band, "candidate_regime": Regime}
_STATE_KEYS = ("exchange", "symbol")
# The columns `_state_values` fills, in its order.
_STATE_COLUMNS = (
    "band",
    "band_since_ms",
    "regime",
    "regime_since_ms",
    "last_cycle_id",
    "candidate_band",
    "candidate_count",
    "candidate_bands",
    "candidate_regime",
    "candidate_regime_count",
)


def _state_values(st: SymbolState) -> tuple[Any, ...]:
    """_STATE_COLUMNS of one state as stored: enums by value, the streak comma-joined."""
    return (
        st.band.value,
        st.band_since_ms,
        st.regime.value,
        st.regime_since_ms,
        st.last_cycle_id,
        None if st.candidate_band is None else st.candidate_band.value,
        st.candidate_count,
        ",".join(st.candidate_bands) or None,
        None if st.candidate_regime is None else st.candidate_regime.value,
        st.candidate_regime_count,
    )


def _state_row(exchange: str, symbol: str, st: SymbolState) -> dict[str, Any]:
    values = dict(zip(_STATE_COLUMNS, _state_values(st), strict=True))
    return {"exchange": exchange, "symbol": symbol, **values}


def _streak(row: Any) -> tuple[Band, ...]:
    """The stored streak; a row written before it was stored has only its summary."""
    if row["candidate_bands"]:
        return tuple(Band(b) for b in row["candidate_bands"].split(","))
    band = row["candidate_band"]
    return (Band(band),) * int(row["candidate_count"] or 0) if band else ()


# ---------------------------------------------------------------- events


async def insert_events(
    session: AsyncSession,
    exchange: str,
    cycle_id: int,
    created_ms: int,
    events: Sequence[Event],
) -> list[tuple[int, Event]]:
    """Store events idempotently; return (id, event) for those this call created.

    The unique key (exchange, symbol, kind, cycle_id) makes a replayed cycle a no-op, and
    only newly created events are returned, so a replay fans out nothing either.
    """
    if not events:
        return []
    cycle = {"exchange": exchange, "cycle_id": cycle_id}
    before = {(s, k) for s, k, _ in (await session.execute(_EVENTS_OF_CYCLE, cycle)).all()}
    fresh = [e for e in events if (e.symbol, e.kind.value) not in before]
    head = (exchange, cycle_id, created_ms)
    await insert_ignore_many(
        session, AlertEvent, _EVENT_COLUMNS, [head + _event_values(e) for e in fresh]
    )
    ids = {(s, k): i for s, k, i in (await session.execute(_EVENTS_OF_CYCLE, cycle)).all()}
    return [(ids[(e.symbol, e.kind.value)], e) for e in fresh]


_EVENTS_OF_CYCLE = select(AlertEvent.symbol, AlertEvent.kind, AlertEvent.id).where(
    AlertEvent.exchange == bindparam("exchange"), AlertEvent.cycle_id == bindparam("cycle_id")
)


# Event fields are AlertEvent columns of the same names; enums are stored as text.
_EVENT_FIELDS = tuple(f.name for f in fields(Event))
_EVENT_COLUMNS = ("exchange", "cycle_id", "created_ms", *_EVENT_FIELDS)


def _event_values(e: Event) -> tuple[Any, ...]:
    """_EVENT_FIELDS of one event as stored."""
    values = (getattr(e, name) for name in _EVENT_FIELDS)
    return tuple(v if v is None or isinstance(v, int) else str(v) for v in values)


# ---------------------------------------------------------------- subscriptions


async def subscriptions_for(
    session: AsyncSession, exchange: str, needed: Mapping[str, Collection[SubKind]]
) -> tuple[list[Sub], dict[int, ChatPrefs]]:
    """Subscriptions of active chats for the needed (symbol or MARKET, kind) pairs, with
    the chats' preferences: one joined query, served by ix_subscriptions_symbol.

    `needed` comes from `fanout.needed_subscriptions(events)`; asking by kind keeps a
    cycle with only squeeze events from reading every `bands` subscription.
    """
    by_kind: dict[str, list[str]] = {}
    for symbol, kinds in needed.items():
        for sub_kind in kinds:
            by_kind.setdefault(sub_kind.value, []).append(symbol)
    if not by_kind:
        return [], {}
    kind_names = tuple(sorted(by_kind))
    params: dict[str, Any] = {"exchange": exchange}
    params.update({f"symbols_{kind}": sorted(by_kind[kind]) for kind in kind_names})
    subs: list[Sub] = []
    chats: dict[int, ChatPrefs] = {}
    # Tens of thousands of rows on a busy cycle: fetch all at once, unpack tuples, and
    # look enums up in dicts.
    rows = (await session.execute(_subscriptions_statement(kind_names), params)).all()
    for chat_id, symbol, kind, min_band, *prefs in rows:
        subs.append(Sub(chat_id, symbol, _SUB_KINDS[kind], _BANDS.get(min_band)))
        if chat_id not in chats:
            chats[chat_id] = chat_prefs(chat_id, True, *prefs)
    return subs, chats


@functools.cache
def _subscriptions_statement(kinds: tuple[str, ...]) -> Executable:
    """The query for these subscription kinds, built once per combination (a handful):
    one SELECT per kind, glued by UNION ALL, so each branch can use the full (exchange,
    symbol, kind) index, where an OR of them made SQLite scan the exchange."""
    columns = (
        Subscription.chat_id,
        Subscription.symbol,
        Subscription.kind,
        Subscription.min_band,
        Chat.min_band,
        Chat.direction,
        Chat.cooldown_minutes,
        Chat.quiet_start_min,
        Chat.quiet_end_min,
        Chat.muted_until_ms,
        Chat.tz,
        Chat.daily_cap,
    )
    branches = [
        select(*columns)
        .join(Chat, Chat.id == Subscription.chat_id)
        .where(
            Subscription.exchange == bindparam("exchange"),
            Subscription.symbol.in_(bindparam(f"symbols_{kind}", expanding=True)),
            Subscription.kind == kind,
            Chat.active.is_(True),
        )
        for kind in kinds
    ]
    return branches[0] if len(branches) == 1 else union_all(*branches)


def chat_prefs(
    chat_id: int,
    active: bool,
    min_band: str | None,
    direction: str,
    cooldown: int | None,
    quiet_start: int | None,
    quiet_end: int | None,
    muted_until: int | None,
    tz: str | None,
    cap: int | None,
) -> ChatPrefs:
    return ChatPrefs(
        chat_id,
        active,
        _BANDS.get(min_band),
        direction == "up",
        cooldown,
        quiet_start,
        quiet_end,
        muted_until,
        zone(tz),
        cap,
    )


PREF_COLUMNS = (
    Chat.id,
    Chat.active,
    Chat.min_band,
    Chat.direction,
    Chat.cooldown_minutes,
    Chat.quiet_start_min,
    Chat.quiet_end_min,
    Chat.muted_until_ms,
    Chat.tz,
    Chat.daily_cap,
)


_BANDS: dict[str | None, Band] = {b.value: b for b in Band}
_SUB_KINDS: dict[str, SubKind] = {k.value: k for k in SubKind}


_DELIVERY_COLUMNS = (
    "event_id",
    "chat_id",
    "cycle_id",
    "status",
    "reason",
    "attempts",
    "created_ms",
    "next_attempt_ms",
    "kind",
    "destination_id",
)


async def insert_deliveries(
    session: AsyncSession,
    cycle_id: int,
    created_ms: int,
    planned: Sequence[PlannedDelivery],
) -> None:
    """Outbox rows, idempotent on (event_id, chat_id, destination_id). `cycle_id` is the
    digest key: all rows for one chat (or destination) with one cycle_id go out as one
    message. Each pending row is mirrored to the chat's active destinations (Discord,
    HTTPS webhooks): a twin row per destination, claimed and retried on its own."""
    # Plain tuples and str() once per distinct value: a busy cycle writes ~50k rows, and
    # dicts plus enum `.value` lookups alone cost ~100 ms of that (bench/fanout.py).
    text: dict[object, str | None] = {
        **{s: str(s) for s in DeliveryStatus},
        **{r: str(r) for r in SuppressReason},
        **{k: str(k) for k in DeliveryKind},
    }
    text[None] = None
    due_ms = created_ms
    if session.get_bind().dialect.name == "postgresql" and planned:
        # Outbox workers on other hosts compare due times with the database clock
        # (bot/storage/outbox_claims.py): a scorer host whose clock runs ahead of it
        # must not hold every alert back by that much.
        due_ms = min(created_ms, await db_now_ms(session))
    rows = [
        (
            p.event_id,
            p.chat_id,
            cycle_id,
            text[p.status],
            text[p.reason],
            0,
            created_ms,
            due_ms,
            text[p.kind],
            0,
        )
        for p in planned
    ]
    rows += await _destination_twins(session, rows)
    await insert_ignore_many(session, Delivery, _DELIVERY_COLUMNS, rows)


async def _destination_twins(
    session: AsyncSession, rows: list[tuple[Any, ...]]
) -> list[tuple[Any, ...]]:
    """The pending rows again, once per active destination of their chat."""
    pending = str(DeliveryStatus.PENDING)
    chats = {row[1] for row in rows if row[3] == pending}
    if not chats:
        return []
    found = await session.execute(
        select(Destination.chat_id, Destination.id).where(Destination.active.is_(True))
    )
    targets: dict[int, list[int]] = {}
    for chat_id, dest_id in found.all():
        if chat_id in chats:
            targets.setdefault(chat_id, []).append(dest_id)
    if not targets:  # the usual case: skip walking a busy cycle's ~50k rows again
        return []
    return [
        (*row[:-1], dest_id)
        for row in rows
        if row[3] == pending
        for dest_id in targets.get(row[1], ())
    ]


async def cycle_deliveries(session: AsyncSession, cycle_id: int) -> list[Delivery]:
    """Every delivery row of one cycle, by chat then event: for tests and /status."""
    rows = await session.scalars(
        select(Delivery)
        .where(Delivery.cycle_id == cycle_id)
        .order_by(Delivery.chat_id, Delivery.event_id)
    )
    return list(rows.all())
