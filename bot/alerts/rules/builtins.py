"""Built-in funding rules (issue 20 §4): ready conditions a chat switches on with
`/rule on NAME` and off with `/rule off NAME`. Pure data.

A built-in is stored as an ordinary rule under its own name (bot/views/rule_actions.py),
so the cycle evaluates it like any other, with the same hysteresis, cooldown, daily cap
and outbox; only its text is ours. A built-in whose condition names a field this
version does not have is listed as unavailable, with the reason, until the field exists:
the check is the parser itself, so it switches on by itself when the field is added.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.alerts.rules.parser import RuleError, parse_condition


@dataclass(frozen=True, slots=True)
class Builtin:
    name: str  # what /rule on takes, and the stored rule's name
    condition: str
    says: str  # what it watches for, in one line, naming no direction of resolution


BUILTINS: tuple[Builtin, ...] = (
    Builtin(
        "funding-flip",
        "(funding_8h > 0 and funding_8h_prev < 0) or (funding_8h < 0 and funding_8h_prev > 0)",
        "funding changes sign since the cycle before: the side that pays switches",
    ),
    Builtin(
        "funding-next-high",
        "abs(funding_next_8h) >= 0.05",
        "the venue's predicted next funding is beyond ±0.05%/8h (OKX publishes one)",
    ),
    Builtin(
        "funding-top-2pct",
        "funding_pctl_90d >= 98",
        "funding in the symbol's own top 2% of the last 90 days: longs pay unusually much",
    ),
    Builtin(
        "funding-bottom-2pct",
        "funding_pctl_90d <= 2",
        "funding in the symbol's own bottom 2% of the last 90 days: shorts pay unusually much",
    ),
)
BY_NAME = {b.name: b for b in BUILTINS}


def unavailable(builtin: Builtin) -> str | None:
    """Why this version cannot run the built-in (a field it names does not exist yet),
    or None when it can."""
    try:
        parse_condition(builtin.condition)
    except RuleError as err:
        if err.message.startswith("unknown field"):  # "unknown field 'x'; did you mean"
            return "needs the field " + err.message.split(";")[0].removeprefix("unknown field ")
        return err.message
    return None


def find(name: str) -> Builtin | None:
    return BY_NAME.get(name.lower())
