"""The reference semantics: one rule on one row, walked node by node.

The compiled evaluation (`bot.alerts.rules.compiler`) must agree with this on every rule
and row (tests/alerts/test_rules_compiler.py checks it on generated rules); bench/rules.py
runs it as the naive peer. `not` applies to what a row has: an unknown value (None)
fails every comparison, negated or not, so a rule never fires on missing data.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping

from bot.alerts.rules.tree import NEGATED, All, Any_, Condition, Const, FieldRef, Not

Row = Mapping[str, float | None]

_OPS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
}


def holds(condition: Condition, row: Row, negate: bool = False) -> bool:
    if isinstance(condition, Not):
        return holds(condition.item, row, not negate)
    if isinstance(condition, All | Any_):
        conj = isinstance(condition, All) != negate
        results = (holds(i, row, negate) for i in condition.items)
        return all(results) if conj else any(results)
    left = _value(condition.left, row)
    right = (
        condition.right.value
        if isinstance(condition.right, Const)
        else _value(condition.right, row)
    )
    if left is None or right is None or left != left or right != right:  # None or NaN
        return False
    op = NEGATED[condition.op] if negate else condition.op
    if op == "!=":
        return left < right or left > right
    return _OPS[op](left, right)


def _value(ref: FieldRef, row: Row) -> float | None:
    value = row.get(ref.name)
    if value is None:
        return None
    return abs(value) if ref.absolute else value
