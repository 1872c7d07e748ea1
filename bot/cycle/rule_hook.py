"""Rules in the cycle's transaction (docs/rules.md): evaluate every rule of the cycle's
exchange over its rows, advance each (rule, symbol) place, store an event per fire.

`AlertEngine` calls `advance` inside the cycle's transaction, plans the fires' deliveries
with the band and squeeze alerts (mute, quiet hours, cooldown, then one daily cap over
all of them), then `finish`, which re-arms the fires whose push was held and writes the
places. A cycle costs three reads (rules with their chats, places, events written back)
and three writes, however many rules there are; the rules compile once and are reused
until the set of rules changes.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from bot.alerts.rules.compiler import Frame, Program, RuleBook, Target, compile_condition
from bot.alerts.rules.parser import RuleError, parse_condition
from bot.alerts.rules.rows import row_values
from bot.alerts.rules.state import rearm, step
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
from bot.scoring.result import CycleResult
from bot.storage import rule_repo
from bot.storage.rule_repo import StoredRule

logger = logging.getLogger("bot.alerts")


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
        self._book_key: tuple[tuple[int, str, str | None], ...] = ()
        self._book: RuleBook | None = None
        self._book_rules: list[StoredRule] = []

    async def advance(self, session: AsyncSession, cycle: CycleResult) -> RuleCycle | None:
        rules, chats = await rule_repo.rules_for_cycle(session, cycle.exchange)
        if not rules:
            return None
        book, live = self._compiled(rules)
        before = await rule_repo.load_states(session, [r.id for r in rules])
        if any(spot.last_cycle_id >= cycle.cycle_id for spot in before.values()):
            return None  # a re-run cycle: the places already moved for it
        scores = {s.symbol: s for s in cycle.scores if s.exchange == cycle.exchange}
        frame = Frame.build((cycle.exchange, sym, row_values(s)) for sym, s in scores.items())
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
        fired = [
            (
                rid,
                sym,
                scores[sym].score.score,
                str(scores[sym].score.bias),
                str(scores[sym].score.regime),
            )
            for rid, sym in result.fired
        ]
        now_ms = cycle.finished_ms or cycle.started_ms
        ids = await rule_repo.insert_events(session, cycle.exchange, cycle.cycle_id, now_ms, fired)
        fires = [
            RuleFire(ids[key], key[0], owner[key[0]], key[1]) for key in result.fired if key in ids
        ]
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

    def _compiled(self, rules: Sequence[StoredRule]) -> tuple[RuleBook, list[StoredRule]]:
        """The rules compiled, reused while the set of rules is the same. A stored rule
        this version cannot read (a field renamed since) is skipped with a warning."""
        key = tuple((r.id, r.condition, r.symbol) for r in rules)
        if self._book is None or key != self._book_key:
            programs, targets, live = _compile(rules)
            self._book = RuleBook(programs, targets)
            self._book_key, self._book_rules = key, live
        return self._book, self._book_rules


def _compile(rules: Iterable[StoredRule]) -> tuple[list[Program], list[Target], list[StoredRule]]:
    programs: list[Program] = []
    targets: list[Target] = []
    live: list[StoredRule] = []
    for rule in rules:
        try:
            condition = parse_condition(rule.condition)
        except RuleError as exc:
            logger.warning("rule %d cannot be read any more (%s): skipped", rule.id, exc.message)
            continue
        programs.append(compile_condition(condition))
        targets.append(Target(rule.exchange, rule.symbol))
        live.append(rule)
    return programs, targets, live
