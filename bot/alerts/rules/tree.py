"""The checked syntax tree of a rule (what `bot.alerts.rules.parser` returns). Pure.

Every node prints back as rule text (`str(rule)`), canonical: one spelling per field,
`==` for `=`, words in lower case; parsing that text gives the same tree.
"""

from __future__ import annotations

from dataclasses import dataclass

# not (a > b) is a <= b: how `not` is pushed into comparisons (compiler, interpreter).
NEGATED = {">": "<=", ">=": "<", "<": ">=", "<=": ">", "==": "!=", "!=": "=="}


@dataclass(frozen=True, slots=True)
class FieldRef:
    name: str  # canonical field name
    absolute: bool = False

    def __str__(self) -> str:
        return f"abs({self.name})" if self.absolute else self.name


@dataclass(frozen=True, slots=True)
class Const:
    value: float
    word: str | None = None  # the word it was written as (band, bias, regime)
    percent: bool = False

    def __str__(self) -> str:
        if self.word is not None:
            return self.word
        return f"{self.value:g}" + ("%" if self.percent else "")


@dataclass(frozen=True, slots=True)
class Compare:
    left: FieldRef  # always a field; a constant, if any, is on the right
    op: str  # > >= < <= == !=
    right: FieldRef | Const

    def __str__(self) -> str:
        return f"{self.left} {self.op} {self.right}"


@dataclass(frozen=True, slots=True)
class All:
    items: tuple[Condition, ...]

    def __str__(self) -> str:
        return " and ".join(_wrap(i, Any_) for i in self.items)


@dataclass(frozen=True, slots=True)
class Any_:
    items: tuple[Condition, ...]

    def __str__(self) -> str:
        return " or ".join(str(i) for i in self.items)


@dataclass(frozen=True, slots=True)
class Not:
    item: Condition

    def __str__(self) -> str:
        return f"not {_wrap(self.item, (All, Any_))}"


Condition = Compare | All | Any_ | Not


def field_names(node: Condition) -> set[str]:
    """Every field a condition names (canonical names)."""
    if isinstance(node, Compare):
        right = {node.right.name} if isinstance(node.right, FieldRef) else set()
        return {node.left.name, *right}
    if isinstance(node, Not):
        return field_names(node.item)
    return set().union(*(field_names(i) for i in node.items))


def _wrap(node: Condition, kinds: type | tuple[type, ...]) -> str:
    return f"({node})" if isinstance(node, kinds) else str(node)


@dataclass(frozen=True, slots=True)
class Rule:
    condition: Condition
    for_cycles: int = 1
    symbol: str | None = None  # as written after `on`; None: every symbol (market)

    def __str__(self) -> str:
        out = str(self.condition)
        if self.for_cycles > 1:
            out += f" for {self.for_cycles} cycles"
        return out + (f" on {self.symbol}" if self.symbol else "")
