"""Rules in the cycle's transaction (docs/rules.md): evaluate every rule of the cycle's
exchange over its rows, advance each (rule, symbol) place, store an event per fire.

`AlertEngine` calls `advance` inside the cycle's transaction, plans the fires' deliveries
with the band and squeeze alerts (mute, quiet hours, cooldown, then one daily cap over
all of them), then `finish`, which re-arms the fires whose push was held and writes the
places. A cycle costs a handful of queries however many rules there are: the rules'
signature (they are reloaded and recompiled only when the set changes), the non-idle
places, the preferences of the chats whose rules fired, the events written and read
back, and the changed places.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from bot.alerts.rules.compiler import Frame, Program, RuleBook, Target, compile_condition
from bot.alerts.rules.parser import RuleError, parse_condition
from bot.alerts.rules.rows import row_values
from bot.alerts.rules.state import cap_fires, rearm, step
from bot.alerts.rules.tree import field_names
from bot.alerts.types import (
    HOLD_REASONS,
    ChatPrefs,
    DeliveryKind,
    DeliveryStatus,
    PlannedDelivery,
    RuleFire,
    RuleKey,
    RuleSpot,
)
from bot.scoring.result import CycleResult, SymbolScore
from bot.storage import rule_repo
from bot.storage.rule_repo import StoredRule

logger = logging.getLogger("bot.alerts")
# Fires of one rule stored per cycle (docs/rules.md): a digest shows 40 lines anyway.
MAX_FIRES_PER_RULE = 20


@dataclass(slots=True)
class RuleCycle:
    """What `advance` found, for the fan-out and for `finish`."""

    cycle_id: int
    before: dict[RuleKey, RuleSpot]
    after: dict[RuleKey, RuleSpot]
    fires: list[RuleFire]
    chats: dict[int, ChatPrefs]
    for_cycles: dict[int, int]


class RuleHook:
    def __init__(self, exit_cycles: int = 2) -> None:
        self.exit_cycles = exit_cycles
        # exchange -> (rules_signature, the compiled rules, the rules they came from)
        self._books: dict[str, tuple[tuple[int, int, int], RuleBook, list[StoredRule]]] = {}
        # exchange -> the fields its rules name, and the cycle whose signature was read
        self._fields: dict[str, frozenset[str]] = {}
        self._checked: dict[str, int] = {}
        # exchange -> symbol -> funding per 8h at its last cycle (`funding_8h_prev`), kept
        # every cycle (rules or not) so a rule added later compares with the cycle before.
        # Not stored: after a start or a scorer hand-over the first cycle has none.
        self._funding_prev: dict[str, dict[str, float]] = {}

    async def advance(
        self,
        session: AsyncSession,
        cycle: CycleResult,
        *,
        replayed: bool = False,
        liq: Mapping[str, Mapping[str, float | None]] | None = None,
    ) -> RuleCycle | None:
        """`replayed`: this cycle was processed before (the engine knows from the band
        states); the places already moved for it, so nothing happens. `liq`: each
        symbol's liquidation fields, read with the cascades (bot/cycle/cascade_hook.py);
        None without the streams, and then every `liq_*` field is unknown."""
        prev = self._funding_prev.setdefault(cycle.exchange, {})
        last = dict(prev)
        if not replayed:
            prev.update(
                (s.symbol, s.score.funding_8h_pct)
                for s in cycle.scores
                if s.exchange == cycle.exchange
            )
        book, live = await self._rules(session, cycle.exchange, cycle.cycle_id)
        if not live or replayed:
            return None
        before = await rule_repo.load_states(session, cycle.exchange)
        if any(spot.last_cycle_id >= cycle.cycle_id for spot in before.values()):
            return None  # a place changed in this cycle already: a re-run
        scores = {s.symbol: s for s in cycle.scores if s.exchange == cycle.exchange}
        frame = Frame.build(
            (cycle.exchange, sym, row_values(s, last.get(sym), liq.get(sym) if liq else None))
            for sym, s in scores.items()
        )
        skip = cycle.hold_alert_state
        positions, rows = book.hits(frame) if len(frame) else ((), ())
        holding = {
            (live[p].id, frame.symbols[r])
            for p, r in zip(list(positions), list(rows), strict=True)
            if frame.symbols[r] not in skip
        }
        for_cycles = {r.id: r.for_cycles for r in live}
        result = step(
            before,
            holding,
            lambda key: key[1] in scores and key[1] not in skip,
            for_cycles,
            cycle_id=cycle.cycle_id,
            exit_cycles=self.exit_cycles,
        )
        owner = {r.id: r.chat_id for r in live}
        entered = cap_fires(
            result.fired, lambda key: scores[key[1]].score.score, MAX_FIRES_PER_RULE
        )
        chats = await rule_repo.chat_prefs_for(session, {owner[k[0]] for k in entered})
        # A chat that left (blocked the bot, was kicked) gets nothing; its rules still move.
        entered = [k for k in entered if k[0] in owner and _active(chats, owner[k[0]])]
        now_ms = cycle.finished_ms or cycle.started_ms
        ids = await rule_repo.insert_events(
            session, cycle.exchange, cycle.cycle_id, now_ms, [_fire_row(k, scores) for k in entered]
        )
        fires = [RuleFire(ids[key], key[0], owner[key[0]], key[1]) for key in entered if key in ids]
        return RuleCycle(cycle.cycle_id, before, result.states, fires, chats, for_cycles)

    async def finish(
        self, session: AsyncSession, rc: RuleCycle, planned: Sequence[PlannedDelivery]
    ) -> None:
        """Re-arm every fire whose push was held, then write the places."""
        by_event = {f.event_id: f for f in rc.fires}
        for p in planned:
            fire = by_event.get(p.event_id)
            if fire is None:
                continue
            held = p.kind is DeliveryKind.CAP_NOTE or (
                p.status is DeliveryStatus.SUPPRESSED and p.reason in HOLD_REASONS
            )
            if held:
                key = (fire.rule_id, fire.symbol)
                rearm(rc.after, key, rc.for_cycles[fire.rule_id], rc.cycle_id)
        await rule_repo.save_states(session, rc.before, rc.after)

    async def fields_in_use(self, session: AsyncSession, cycle: CycleResult) -> frozenset[str]:
        """The fields the exchange's rules name, before `advance` (the cycle reads the
        1h liquidation window only when a rule needs it); `advance` of the same cycle
        then reads no signature again."""
        await self._rules(session, cycle.exchange, cycle.cycle_id)
        return self._fields.get(cycle.exchange, frozenset())

    async def _rules(
        self, session: AsyncSession, exchange: str, cycle_id: int
    ) -> tuple[RuleBook, list[StoredRule]]:
        """The exchange's rules compiled, reloaded only when the set of rules changed
        (checked once per cycle). A stored rule this version cannot read (a field
        renamed since) is skipped with a warning."""
        cached = self._books.get(exchange)
        if cached is not None and self._checked.get(exchange) == cycle_id:
            return cached[1], cached[2]
        signature = await rule_repo.rules_signature(session, exchange)
        if cached is None or cached[0] != signature:
            programs, targets, live, names = _compile(await rule_repo.rules_on(session, exchange))
            cached = (signature, RuleBook(programs, targets), live)
            self._books[exchange] = cached
            self._fields[exchange] = frozenset(names)
        self._checked[exchange] = cycle_id
        return cached[1], cached[2]


def _active(chats: dict[int, ChatPrefs], chat_id: int) -> bool:
    prefs = chats.get(chat_id)
    return prefs is not None and prefs.active


def _fire_row(key: RuleKey, scores: dict[str, SymbolScore]) -> tuple[int, str, int, str, str]:
    score = scores[key[1]].score
    return (key[0], key[1], score.score, str(score.bias), str(score.regime))


def _compile(
    rules: Iterable[StoredRule],
) -> tuple[list[Program], list[Target], list[StoredRule], set[str]]:
    programs: list[Program] = []
    targets: list[Target] = []
    live: list[StoredRule] = []
    names: set[str] = set()
    for rule in rules:
        try:
            condition = parse_condition(rule.condition)
        except RuleError as exc:
            logger.warning("rule %d cannot be read any more (%s): skipped", rule.id, exc.message)
            continue
        programs.append(compile_condition(condition))
        targets.append(Target(rule.exchange, rule.symbol))
        live.append(rule)
        names |= field_names(condition)
    return programs, targets, live, names
