"""Candidate squeeze rules, relative to each symbol's own history (issue 18 §3), as
evaluation signals. The seed's sentence: squeeze risk is "where OI is building against
the current funding bias; those tend to resolve violently". Read relative to the
symbol: its OI 24h change is unusually high for it while its funding premium is
unusually one-sided for it (trailing 90-day ranks, `bot.replay.ranks`). The side is who
pays: a positive premium means longs pay, so longs are the crowded side.

Every candidate here is reported by `--evaluate` on both periods; one was chosen on the
fit period alone (docs/design-notes.md lists them all with their figures).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.replay.evaluate import Condition, HourFeatures, Signal, episode_signal
from bot.replay.run import ScoredHour


@dataclass(frozen=True, slots=True)
class RankRule:
    name: str
    funding_rank: float  # |premium| (or the signed premium's tail) at least this rank
    oi_rank: float  # OI 24h change at least this rank
    signed: bool = False  # rank the signed premium: top tail longs pay, bottom tail shorts
    basis_against: bool = False  # also the basis disagrees with funding (the shipped idea)


CANDIDATES = (
    RankRule("R1 |fp| >= p90, OI24 >= p90", 0.90, 0.90),
    RankRule("R2 |fp| >= p95, OI24 >= p95", 0.95, 0.95),
    RankRule("R3 |fp| >= p80, OI24 >= p80", 0.80, 0.80),
    RankRule("R4 |fp| >= p90, OI24 >= p95", 0.90, 0.95),
    RankRule("R5 |fp| >= p95, OI24 >= p90", 0.95, 0.90),
    RankRule("R6 signed fp tail 10%, OI24 >= p90", 0.90, 0.90, signed=True),
    RankRule("R7 signed fp tail 5%, OI24 >= p95", 0.95, 0.95, signed=True),
    RankRule("R8 R1 + basis against funding", 0.90, 0.90, basis_against=True),
    # Second round, still on fit only: R1-R8 left no rule frequent enough for the
    # ">= 100 verify events" target (a fit rate of >= 0.054 per symbol-day).
    RankRule("R9 |fp| >= p85, OI24 >= p85", 0.85, 0.85),
    RankRule("R10 |fp| >= p90, OI24 >= p80", 0.90, 0.80),
    RankRule("R11 |fp| >= p80, OI24 >= p90", 0.80, 0.90),
    RankRule("R12 |fp| >= p85, OI24 >= p90", 0.85, 0.90),
    RankRule("R13 |fp| >= p90, OI24 >= p85", 0.90, 0.85),
)


def rule_signals(
    scored: Sequence[ScoredHour], f: HourFeatures, rules: Sequence[RankRule] = CANDIDATES
) -> list[Signal]:
    return [
        episode_signal(rule.name, "rule", scored, _condition(rule, scored, f)) for rule in rules
    ]


def _condition(rule: RankRule, scored: Sequence[ScoredHour], f: HourFeatures) -> Condition:
    def holds(i: int) -> tuple[bool, int]:
        oi = f.oi_24h[i]
        if oi is None or oi < rule.oi_rank:
            return False, 0
        premium = scored[i].score.funding_premium
        if rule.signed:
            rank = f.premium[i]
            if rank is None:
                return False, 0
            longs_pay = rank >= rule.funding_rank
            if not (longs_pay or rank <= 1 - rule.funding_rank):
                return False, 0
        else:
            rank = f.abs_premium[i]
            if rank is None or rank < rule.funding_rank:
                return False, 0
            longs_pay = premium > 0
        if rule.basis_against:
            basis = scored[i].inputs.basis_pct
            if (basis > 0) == longs_pay:
                return False, 0
        # The crowded side pays; a squeeze of it moves price against it.
        return True, -1 if longs_pay else 1

    return holds
