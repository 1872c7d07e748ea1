"""Rules -> vectorised evaluation over one cycle's rows. Pure (numpy, no I/O).

One cycle's rows (every venue and the cross-venue aggregate, about 1,850) become a
`Frame`: a float matrix, one row per field, one column per (exchange, symbol). Each
rule compiles to a tree of `and`/`or` over leaves `column op threshold`, with `not`
pushed down into the comparisons (De Morgan), so NaN (an unknown value) fails every
leaf and a rule never fires on data a row lacks, negated or not.

Rules whose trees have the same *shape* (the same and/or nesting and leaf operators,
whatever their fields and thresholds) are evaluated together: each leaf position is one
gather and one comparison over (rules in the group) x (rows in scope), so 10,000 rules
cost a few hundred numpy calls instead of 10,000 interpreter walks (bench/rules.py).
A rule on one symbol reads one column; a market-wide rule every row of its exchange.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from bot.alerts.rules.fields import COLUMN_INDEX, COLUMN_NAMES
from bot.alerts.rules.tree import NEGATED, All, Any_, Compare, Condition, Const, FieldRef, Not

Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]
Ints = npt.NDArray[np.intp]

# A column: a field, abs(field), or the difference of two of those (field vs field).
ColumnKey = tuple[str, ...]
_OPS: dict[str, Callable[[Floats, Floats], Bools]] = {
    ">": np.greater,
    ">=": np.greater_equal,
    "<": np.less,
    "<=": np.less_equal,
    "==": np.equal,
}


@dataclass(frozen=True, slots=True)
class Leaf:
    column: ColumnKey
    op: str  # > >= < <= ==  (!= becomes `< or >`, so NaN fails it too)
    threshold: float


@dataclass(frozen=True, slots=True)
class Node:
    op: str  # "and" | "or"
    items: tuple[Leaf | Node, ...]


Program = Leaf | Node


def compile_condition(condition: Condition) -> Program:
    """The condition in negation normal form, children ordered by shape (so `a and b`
    and `b and a` share one)."""
    return _canonical(_nnf(condition, negate=False))


def _nnf(c: Condition, negate: bool) -> Program:
    if isinstance(c, Not):
        return _nnf(c.item, not negate)
    if isinstance(c, All | Any_):
        op = "and" if isinstance(c, All) else "or"
        if negate:
            op = "or" if op == "and" else "and"
        return Node(op, tuple(_nnf(i, negate) for i in c.items))
    return _leaf(c, NEGATED[c.op] if negate else c.op)


def _leaf(c: Compare, op: str) -> Program:
    column = _column(c.left)
    threshold = 0.0
    if isinstance(c.right, Const):
        threshold = c.right.value
    else:
        column = ("diff", *column, "|", *_column(c.right))
    if op == "!=":
        return Node("or", (Leaf(column, "<", threshold), Leaf(column, ">", threshold)))
    return Leaf(column, op, threshold)


def _column(ref: FieldRef) -> ColumnKey:
    return ("abs", ref.name) if ref.absolute else (ref.name,)


def shape(p: Program) -> str:
    if isinstance(p, Leaf):
        return p.op
    return p.op + "(" + ",".join(shape(i) for i in p.items) + ")"


def _canonical(p: Program) -> Program:
    if isinstance(p, Leaf):
        return p
    items = [_canonical(i) for i in p.items]
    flat: list[Program] = []
    for item in items:  # a and (b and c) is a and b and c
        flat.extend(item.items if isinstance(item, Node) and item.op == p.op else [item])
    return Node(p.op, tuple(sorted(flat, key=shape)))


def leaves(p: Program) -> list[Leaf]:
    return [p] if isinstance(p, Leaf) else [leaf for i in p.items for leaf in leaves(i)]


# ---------------------------------------------------------------- one cycle's rows


@dataclass(slots=True)
class Frame:
    """One cycle's rows, grouped by exchange: `values[field_index, row]` (NaN when
    unknown). Build with `Frame.build`; rows of one exchange are contiguous."""

    exchanges: list[str]
    symbols: list[str]
    values: Floats
    spans: dict[str, tuple[int, int]] = field(default_factory=dict)
    index: dict[tuple[str, str], int] = field(default_factory=dict)

    @staticmethod
    def build(rows: Iterable[tuple[str, str, Mapping[str, float | None]]]) -> Frame:
        """rows: (exchange, symbol, {field: value or None}); missing fields are NaN."""
        ordered = sorted(rows, key=lambda r: (r[0], r[1]))
        values = np.full((len(COLUMN_NAMES), len(ordered)), np.nan)
        for j, (_, _, row) in enumerate(ordered):
            for name, value in row.items():
                i = COLUMN_INDEX.get(name)
                if i is not None and value is not None:
                    values[i, j] = value
        frame = Frame([r[0] for r in ordered], [r[1] for r in ordered], values)
        for j, (exchange, symbol, _) in enumerate(ordered):
            lo, _hi = frame.spans.get(exchange, (j, j))
            frame.spans[exchange] = (lo, j + 1)
            frame.index[(exchange, symbol)] = j
        return frame

    def __len__(self) -> int:
        return len(self.symbols)


# ---------------------------------------------------------------- many rules at once


@dataclass(frozen=True, slots=True)
class Target:
    """Where a rule looks: one exchange's rows, or one symbol's row on it."""

    exchange: str
    symbol: str | None = None  # None: every symbol of the exchange


@dataclass(slots=True)
class _Group:
    program: Program  # the first rule's: the shape every rule of the group shares
    rules: list[int]  # positions in the RuleBook
    columns: list[list[int]]  # per leaf position: the column of each rule
    thresholds: list[list[float]]


class RuleBook:
    """Compiled rules, evaluated together over a Frame. `hits(frame)` gives, for each
    rule position, the row indices where its condition holds."""

    def __init__(self, programs: Sequence[Program], targets: Sequence[Target]) -> None:
        if len(programs) != len(targets):
            raise ValueError("one target per program")
        self.targets = list(targets)
        self.column_keys: list[ColumnKey] = [(name,) for name in COLUMN_NAMES]
        self._column_of: dict[ColumnKey, int] = {k: i for i, k in enumerate(self.column_keys)}
        groups: dict[tuple[str, str | None, bool], _Group] = {}
        for pos, (program, target) in enumerate(zip(programs, targets, strict=True)):
            market = target.symbol is None
            key = (shape(program), target.exchange if market else None, market)
            group = groups.get(key)
            lv = leaves(program)
            if group is None:
                group = groups[key] = _Group(program, [], [[] for _ in lv], [[] for _ in lv])
            group.rules.append(pos)
            for j, leaf in enumerate(lv):
                group.columns[j].append(self._column(leaf.column))
                group.thresholds[j].append(leaf.threshold)
        self._groups = list(groups.items())
        self._arrays = [
            ([np.array(c, dtype=np.intp) for c in g.columns], [np.array(t) for t in g.thresholds])
            for _, g in self._groups
        ]

    def __len__(self) -> int:
        return len(self.targets)

    def _column(self, key: ColumnKey) -> int:
        if key not in self._column_of:
            self._column_of[key] = len(self.column_keys)
            self.column_keys.append(key)
        return self._column_of[key]

    def _matrix(self, frame: Frame) -> Floats:
        """The frame's fields plus every derived column, and a last all-NaN column for
        rules whose symbol is absent this cycle."""
        out = np.full((len(self.column_keys), len(frame) + 1), np.nan)
        out[: len(COLUMN_NAMES), :-1] = frame.values
        for i, key in enumerate(self.column_keys[len(COLUMN_NAMES) :], len(COLUMN_NAMES)):
            out[i] = _derived(out, key)
        return out

    def hits(self, frame: Frame) -> tuple[Ints, Ints]:
        """(rule positions, row indices) of every (rule, row) where the rule holds."""
        matrix = self._matrix(frame)
        missing = len(frame)
        rule_parts: list[Ints] = []
        row_parts: list[Ints] = []
        for ((_, exchange, market), group), (cols, thrs) in zip(
            self._groups, self._arrays, strict=True
        ):
            rules = np.array(group.rules, dtype=np.intp)
            if market:
                lo, hi = frame.spans.get(exchange or "", (0, 0))
                if hi == lo:
                    continue
                block = matrix[:, lo:hi]
                values = [block[c] for c in cols]  # (rules, rows) per leaf
                ok = _combine(group.program, iter(values), iter(thrs), True)
                r, c = np.nonzero(ok)
                rule_parts.append(rules[r])
                row_parts.append(c + lo)
            else:
                at = np.array(
                    [
                        frame.index.get((t.exchange, t.symbol or ""), missing)
                        for t in (self.targets[p] for p in group.rules)
                    ],
                    dtype=np.intp,
                )
                values = [matrix[c, at] for c in cols]
                ok = _combine(group.program, iter(values), iter(thrs), False)
                rule_parts.append(rules[ok])
                row_parts.append(at[ok])
        if not rule_parts:
            empty = np.zeros(0, dtype=np.intp)
            return empty, empty
        return np.concatenate(rule_parts), np.concatenate(row_parts)


def _derived(matrix: Floats, key: ColumnKey) -> Floats:
    if key[0] == "abs":
        out: Floats = np.abs(matrix[COLUMN_INDEX[key[1]]])
        return out
    if key[0] == "diff":
        cut = key.index("|")
        return _plain(matrix, key[1:cut]) - _plain(matrix, key[cut + 1 :])
    raise ValueError(f"unknown column {key}")


def _plain(matrix: Floats, key: ColumnKey) -> Floats:
    return _derived(matrix, key) if key[0] == "abs" else matrix[COLUMN_INDEX[key[0]]]


def _combine(
    program: Program, values: Iterable[Floats], thresholds: Iterable[Floats], wide: bool
) -> Bools:
    """Evaluate one shape for every rule of a group: leaf values come in leaf order."""
    vit, tit = iter(values), iter(thresholds)

    def walk(p: Program) -> Bools:
        if isinstance(p, Leaf):
            thr = next(tit)
            return _OPS[p.op](next(vit), thr[:, None] if wide else thr)
        parts = [walk(i) for i in p.items]
        reduce = np.logical_and if p.op == "and" else np.logical_or
        acc = parts[0]
        for part in parts[1:]:
            acc = reduce(acc, part, out=acc)
        return acc

    return walk(program)


def hits_by_rule(hits: tuple[Ints, Ints], rules: int) -> dict[int, list[int]]:
    """{rule position: [row indices]} for the rules that hold anywhere."""
    out: dict[int, list[int]] = defaultdict(list)
    for r, c in zip(hits[0].tolist(), hits[1].tolist(), strict=True):
        out[r].append(c)
    return dict(out)
