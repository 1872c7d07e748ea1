"""Rules (docs/rules.md): a chat's rules, their per-symbol state, and their events.

Like every alert query these take an open session and never commit. The cycle reads
every rule of its exchange once (one joined query with the owners' preferences), the
non-idle states once, and writes each as one batch.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import bindparam, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.alerts.types import ChatPrefs, RuleKey, RuleSpot, rule_event_kind
from bot.storage.alert_repo import PREF_COLUMNS, chat_prefs, chunked
from bot.storage.bulk import insert_ignore_many
from bot.storage.models import AlertEvent, Chat, Rule, RuleState


@dataclass(frozen=True, slots=True)
class StoredRule:
    id: int
    chat_id: int
    name: str
    exchange: str
    symbol: str | None  # None: every symbol of the exchange
    condition: str  # canonical rule text, without `for`/`on`
    for_cycles: int
    created_ms: int = 0


def _stored(r: Rule) -> StoredRule:
    return StoredRule(
        r.id, r.chat_id, r.name, r.exchange, r.symbol, r.condition, r.for_cycles, r.created_ms
    )


# ---------------------------------------------------------------- a chat's rules


async def add_rule(
    session: AsyncSession,
    chat_id: int,
    name: str,
    exchange: str,
    symbol: str | None,
    condition: str,
    for_cycles: int,
    now_ms: int,
    *,
    cap: int,
) -> tuple[StoredRule | None, str | None]:
    """(the new rule, None), or (None, "exists" | "over_cap")."""
    have = await session.scalar(select(Rule).where(Rule.chat_id == chat_id, Rule.name == name))
    if have is not None:
        return None, "exists"
    count = await session.scalar(select(func.count()).where(Rule.chat_id == chat_id))
    if (count or 0) >= cap:
        return None, "over_cap"
    rule = Rule(
        chat_id=chat_id,
        name=name,
        exchange=exchange,
        symbol=symbol,
        condition=condition,
        for_cycles=for_cycles,
        created_ms=now_ms,
    )
    session.add(rule)
    await session.flush()
    return _stored(rule), None


async def list_rules(session: AsyncSession, chat_id: int) -> list[StoredRule]:
    rows = await session.scalars(select(Rule).where(Rule.chat_id == chat_id).order_by(Rule.name))
    return [_stored(r) for r in rows.all()]


async def remove_rule(session: AsyncSession, chat_id: int, name: str | None) -> int:
    """Remove one rule by name, or all of the chat's (None); returns how many. Their
    states, events and unsent deliveries go with them (ON DELETE CASCADE, and the ORM
    delete below clears rule_state on SQLite connections without foreign keys too)."""
    where = [Rule.chat_id == chat_id] + ([Rule.name == name] if name is not None else [])
    ids = list((await session.scalars(select(Rule.id).where(*where))).all())
    if not ids:
        return 0
    await session.execute(delete(RuleState).where(RuleState.rule_id.in_(ids)))
    await session.execute(delete(AlertEvent).where(AlertEvent.rule_id.in_(ids)))
    await session.execute(delete(Rule).where(Rule.id.in_(ids)))
    return len(ids)


# ---------------------------------------------------------------- the cycle


# Built once: every cycle asks, and building the statement cost more CPU than running it
# (`pressurebot replay` drives the engine through some 35,000 cycles of the shipped file).
_RULES_SIGNATURE = select(func.count(), func.max(Rule.id), func.sum(Rule.id)).where(
    Rule.exchange == bindparam("exchange")
)


async def rules_signature(session: AsyncSession, exchange: str) -> tuple[int, int, int]:
    """(count, max id, sum of ids) of the rules on `exchange`: rules are only added and
    removed, never edited, so this changes exactly when the set does, and the cycle
    reloads and recompiles the rules only then (one indexed aggregate per cycle)."""
    row = (await session.execute(_RULES_SIGNATURE, {"exchange": exchange})).one()
    return int(row[0] or 0), int(row[1] or 0), int(row[2] or 0)


async def rules_on(session: AsyncSession, exchange: str) -> list[StoredRule]:
    """Every rule on `exchange`, as plain rows (tens of thousands: no ORM entities)."""
    stmt = (
        select(
            Rule.id,
            Rule.chat_id,
            Rule.name,
            Rule.exchange,
            Rule.symbol,
            Rule.condition,
            Rule.for_cycles,
            Rule.created_ms,
        )
        .where(Rule.exchange == exchange)
        .order_by(Rule.id)
    )
    return [StoredRule(*row) for row in (await session.execute(stmt)).all()]


async def chat_prefs_for(session: AsyncSession, chat_ids: Collection[int]) -> dict[int, ChatPrefs]:
    """The preferences of these chats (active or not), for the fires of one cycle."""
    out: dict[int, ChatPrefs] = {}
    for chunk in chunked(chat_ids):
        rows = await session.execute(select(*PREF_COLUMNS).where(Chat.id.in_(chunk)))
        for chat_id, active, *prefs in rows.all():
            out[chat_id] = chat_prefs(chat_id, bool(active), *prefs)
    return out


async def load_states(session: AsyncSession, exchange: str) -> dict[RuleKey, RuleSpot]:
    """Every non-idle place of the rules on `exchange`: one joined query."""
    stmt = (
        select(
            RuleState.rule_id,
            RuleState.symbol,
            RuleState.active,
            RuleState.streak,
            RuleState.misses,
            RuleState.last_cycle_id,
        )
        .join(Rule, Rule.id == RuleState.rule_id)
        .where(Rule.exchange == exchange)
    )
    out: dict[RuleKey, RuleSpot] = {}
    for rule_id, symbol, active, streak, misses, last in (await session.execute(stmt)).all():
        out[(rule_id, symbol)] = RuleSpot(bool(active), streak, misses, last)
    return out


async def save_states(
    session: AsyncSession,
    before: Mapping[RuleKey, RuleSpot],
    after: Mapping[RuleKey, RuleSpot],
) -> None:
    """Replace the rows that changed: delete what changed or went idle, insert the new,
    each one executemany. A place that keeps holding is not rewritten, so a quiet
    market writes little however many places there are."""
    stale = [{"r": k[0], "s": k[1]} for k, spot in before.items() if after.get(k) != spot]
    if stale:
        # One executemany by primary key, however many places moved.
        by_key = delete(RuleState).where(
            RuleState.rule_id == bindparam("r"), RuleState.symbol == bindparam("s")
        )
        conn = await session.connection()
        await conn.execute(by_key, stale)
    fresh = [(k[0], k[1], *spot) for k, spot in after.items() if before.get(k) != spot]
    await insert_ignore_many(
        session,
        RuleState,
        ("rule_id", "symbol", "active", "streak", "misses", "last_cycle_id"),
        fresh,
    )


_RULE_EVENT_COLUMNS = (
    "exchange",
    "cycle_id",
    "created_ms",
    "symbol",
    "kind",
    "direction",
    "score",
    "bias",
    "regime",
    "rule_id",
)


async def insert_events(
    session: AsyncSession,
    exchange: str,
    cycle_id: int,
    created_ms: int,
    fires: Sequence[tuple[int, str, int, str, str]],
) -> dict[RuleKey, int]:
    """Store one event per fire (rule id, symbol, score, bias, regime), idempotently;
    returns the event id of each fire this call created (a re-run cycle creates none)."""
    if not fires:
        return {}
    where = (AlertEvent.exchange == exchange, AlertEvent.cycle_id == cycle_id)
    key = (AlertEvent.rule_id, AlertEvent.symbol, AlertEvent.id)
    q = select(*key).where(*where, AlertEvent.rule_id.is_not(None))
    before = {(r, s) for r, s, _ in (await session.execute(q)).all()}
    fresh = [f for f in fires if (f[0], f[1]) not in before]
    columns = _RULE_EVENT_COLUMNS
    rows = [
        (exchange, cycle_id, created_ms, s, rule_event_kind(r), "enter", score, bias, regime, r)
        for r, s, score, bias, regime in fresh
    ]
    await insert_ignore_many(session, AlertEvent, columns, rows)
    ids = {(r, s): i for r, s, i in (await session.execute(q)).all()}
    return {(r, s): ids[(r, s)] for r, s, *_ in fresh}
