"""Where each rule stands on each symbol, cycle to cycle: enter/exit hysteresis. Pure.

A rule *fires* (enters) on a symbol when its condition has held for `for_cycles`
consecutive cycles; it is then *active* and cannot fire again on that symbol until it
has *exited*: `exit_cycles` consecutive cycles without the condition (the alerts'
`confirm_cycles`, 2), so a value hovering at a threshold fires once, not every other
cycle. A symbol not evaluated this cycle (failed to fetch, held for a missing OI
window, absent) keeps its place untouched, as the band state does (docs/alerts.md).

Only non-idle places are kept: a streak in progress, or an active rule.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import NamedTuple

from bot.alerts.types import RuleKey, RuleSpot


class RuleStep(NamedTuple):
    states: dict[RuleKey, RuleSpot]  # every non-idle place after this cycle
    fired: list[RuleKey]  # places that entered this cycle, in rule then symbol order


def step(
    prev: Mapping[RuleKey, RuleSpot],
    holding: Collection[RuleKey],
    evaluated: Callable[[RuleKey], bool],
    for_cycles: Mapping[int, int],
    *,
    cycle_id: int,
    exit_cycles: int = 2,
) -> RuleStep:
    """`holding`: the places whose condition holds this cycle; `evaluated(key)`: was the
    place's symbol scored (and not held) this cycle; `for_cycles`: per live rule id.
    Places of rules no longer in `for_cycles` (removed) are dropped."""
    states: dict[RuleKey, RuleSpot] = {}
    fired: list[RuleKey] = []
    for key, spot in prev.items():
        if key[0] not in for_cycles:
            continue
        if key in holding:
            continue  # decided below with the other holding places
        if not evaluated(key):
            states[key] = spot
        elif spot.active and spot.misses + 1 < exit_cycles:
            states[key] = RuleSpot(True, 0, spot.misses + 1, cycle_id)
        # else: a streak broken, or an active rule that has now exited: idle
    for key in sorted(holding):
        need = for_cycles.get(key[0])
        if need is None:
            continue
        had = prev.get(key)
        if had is not None and had.active:
            # Unchanged while it keeps holding: a place is rewritten only when it moves.
            states[key] = had if had.misses == 0 else RuleSpot(True, 0, 0, cycle_id)
            continue
        streak = (had.streak if had is not None else 0) + 1
        if streak >= need:
            states[key] = RuleSpot(True, 0, 0, cycle_id)
            fired.append(key)
        else:
            states[key] = RuleSpot(False, streak, 0, cycle_id)
    return RuleStep(states, fired)


def rearm(states: dict[RuleKey, RuleSpot], key: RuleKey, for_cycles: int, cycle_id: int) -> None:
    """A fire whose push was held (mute, quiet hours, daily cap) does not use the rule
    up: one cycle short of firing, it fires again at the first cycle the chat can be
    pushed, if the condition still holds then."""
    if for_cycles > 1:
        states[key] = RuleSpot(False, for_cycles - 1, 0, cycle_id)
    else:
        states.pop(key, None)


def cap_fires(
    fired: list[RuleKey], score_of: Callable[[RuleKey], float], per_rule: int
) -> list[RuleKey]:
    """At most `per_rule` fires of one rule in one cycle, highest score first; the rest
    enter silently (active, so they do not fire next cycle either). A market-wide rule
    that suddenly holds on hundreds of symbols is one digest of its strongest few, not
    hundreds of stored events and pushes."""
    by_rule: dict[int, list[RuleKey]] = {}
    for key in fired:
        by_rule.setdefault(key[0], []).append(key)
    kept: list[RuleKey] = []
    for keys in by_rule.values():
        if len(keys) > per_rule:
            keys = sorted(keys, key=lambda k: (-score_of(k), k[1]))[:per_rule]
        kept.extend(keys)
    return sorted(kept)
