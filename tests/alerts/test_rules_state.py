"""Enter/exit of a rule on a symbol, cycle to cycle (bot/alerts/rules/state.py)."""

from __future__ import annotations

from bot.alerts.rules.state import cap_fires, rearm, step
from bot.alerts.types import RuleSpot

A = (1, "AUSDT")


def run(holding_by_cycle: list[bool], for_cycles: int = 1) -> list[int]:
    """Cycles (1-based) at which the rule fired on A."""
    states: dict = {}
    fired = []
    for cycle, holds in enumerate(holding_by_cycle, start=1):
        result = step(
            states, {A} if holds else set(), lambda k: True, {1: for_cycles}, cycle_id=cycle
        )
        states = result.states
        if result.fired:
            fired.append(cycle)
    return fired


def test_enter_after_n_cycles_and_exit_after_two_misses():
    assert run([True, True, True], for_cycles=2) == [2]
    assert run([True, False, True, True], for_cycles=2) == [4]
    # One miss is not an exit; two are, and then it can fire again.
    assert run([True, False, True, False, False, True]) == [1, 6]


def test_a_place_that_keeps_holding_is_not_rewritten():
    first = step({}, {A}, lambda k: True, {1: 1}, cycle_id=1).states
    again = step(first, {A}, lambda k: True, {1: 1}, cycle_id=2).states
    assert again[A] is first[A] and again[A].last_cycle_id == 1


def test_unevaluated_symbols_keep_their_place_and_removed_rules_are_dropped():
    states = {A: RuleSpot(False, 1, 0, 1), (2, "B"): RuleSpot(True, 0, 0, 1)}
    result = step(states, set(), lambda k: False, {1: 3}, cycle_id=2)
    assert result.states == {A: RuleSpot(False, 1, 0, 1)}


def test_rearm_leaves_the_rule_one_cycle_short():
    states = {A: RuleSpot(True, 0, 0, 5)}
    rearm(states, A, 3, 5)
    assert states[A] == RuleSpot(False, 2, 0, 5)
    rearm(states, A, 1, 5)
    assert A not in states


def test_at_most_n_fires_per_rule_highest_score_first():
    fired = [(1, f"S{i}") for i in range(5)] + [(2, "S0")]
    kept = cap_fires(fired, lambda k: int(k[1][1:]), 2)
    assert kept == [(1, "S3"), (1, "S4"), (2, "S0")]
