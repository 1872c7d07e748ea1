"""The rule language: text -> a checked syntax tree. Pure; never `eval`.

    rule       := condition ["for" INT ("cycle" | "cycles")] ["on" (SYMBOL | "market")]
    condition  := or
    or         := and ("or" and)*
    and        := not ("and" not)*
    not        := "not" not | "(" condition ")" | comparison
    comparison := operand (">" | ">=" | "<" | "<=" | "==" | "=" | "!=") operand
    operand    := ["-"] NUMBER ["%"] | FIELD | "abs" "(" FIELD ")" | WORD | "quoted words"

Precedence: not > and > or, as in Python and SQL. A comparison names at least one field
(bot/alerts/rules/fields.py); words (`stressed`, `long`, `long_squeeze`) are compared with
the word fields band, bias and regime; `%` may follow a number compared with a percent
field (`oi_4h > 8%` is `oi_4h > 8`: fields are in percent units already).

Every mistake raises `RuleError` with the character span of the bad token and, for a
misspelt field or word, the closest names. Work is linear in the input, whose length,
nesting and number of comparisons are capped, so no input is slow.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from typing import NamedTuple

from bot.alerts.rules.fields import BY_NAME, COLUMN_NAMES, WORD_CODES, Field, Unit
from bot.alerts.rules.tree import All, Any_, Compare, Condition, Const, FieldRef, Not, Rule

MAX_CHARS = 400
MAX_DEPTH = 12  # nested parentheses / not
MAX_COMPARISONS = 12
MAX_FOR_CYCLES = 288  # a day of 5-minute cycles

KEYWORDS = frozenset({"and", "or", "not", "for", "on", "abs", "cycle", "cycles", "market"})
COMPARATORS = {"=": "==", "==": "==", "!=": "!=", ">": ">", ">=": ">=", "<": "<", "<=": "<="}
FLIPPED = {">": "<", ">=": "<=", "<": ">", "<=": ">=", "==": "==", "!=": "!="}


class RuleError(ValueError):
    """A rule that cannot be read: `message`, and the span [start, end) it is about."""

    def __init__(self, message: str, start: int, end: int, text: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.start = start
        self.end = max(end, start + 1)
        self.text = text

    def pointer(self) -> str:
        """The rule, and a line of carets under the bad part."""
        width = min(self.end, len(self.text) + 1) - self.start
        return f"{self.text}\n{' ' * self.start}{'^' * max(1, width)}"


class Token(NamedTuple):
    kind: str  # num | word | op | ( | ) | % | - | str | rest | end
    text: str
    start: int
    end: int


_TOKEN = re.compile(
    r"\s*(?:(?P<num>\d+(?:\.\d*)?|\.\d+)|(?P<word>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<op>>=|<=|==|!=|=|>|<)|(?P<punct>[()%-])|(?P<str>\"[^\"]*\"|'[^']*'))"
)
_SYMBOL = re.compile(r"\$?[A-Za-z0-9][A-Za-z0-9_./:-]{0,39}")


def tokenize(text: str) -> list[Token]:
    """Tokens up to the end; after the keyword `on`, the rest is one `rest` token (a
    symbol may start with a digit, `1000shib`, or carry a dash, `BTC-USDT-SWAP`)."""
    tokens: list[Token] = []
    pos = 0
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos == len(text):
            tokens.append(Token("end", "", pos, pos))
            return tokens
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise RuleError(f"unexpected character {text[pos]!r}", pos, pos + 1, text)
        kind = m.lastgroup or ""
        if kind == "punct":
            kind = m.group(kind)
        start = m.start(m.lastgroup or 0)
        tokens.append(Token(kind, m.group(m.lastgroup or 0), start, m.end()))
        pos = m.end()
        if kind == "word" and m.group("word").lower() == "on":
            rest = text[pos:].strip()
            at = text.index(rest, pos) if rest else len(text)
            tokens.append(Token("rest", rest, at, at + len(rest)))
            tokens.append(Token("end", "", len(text), len(text)))
            return tokens


# ---------------------------------------------------------------- parsing


def parse_rule(text: str) -> Rule:
    """The whole rule: condition, optional `for N cycles`, optional `on SYMBOL|market`."""
    return _Parser(text).rule()


def parse_condition(text: str) -> Condition:
    """A condition alone (no `for`/`on`), e.g. for `replay --rule`."""
    rule = parse_rule(text)
    if rule.for_cycles != 1 or rule.symbol is not None:
        raise RuleError("only a condition is expected here", 0, len(text), text)
    return rule.condition


def suggest(name: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(name.lower(), choices, n=3, cutoff=0.6)
    return f"; did you mean {' or '.join(close)}?" if close else ""


class _Operand(NamedTuple):
    token: Token
    field: Field | None = None
    absolute: bool = False
    number: float | None = None
    percent: bool = False
    word: str | None = None  # a bare word or quoted text that is not a field


class _Parser:
    def __init__(self, text: str) -> None:
        if len(text) > MAX_CHARS:
            raise RuleError(f"a rule is at most {MAX_CHARS} characters", MAX_CHARS, len(text), text)
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0
        self.depth = 0
        self.comparisons = 0

    # -- helpers

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def _is(self, *words: str) -> bool:
        return self.tok.kind == "word" and self.tok.text.lower() in words

    def _next(self) -> Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def _error(self, message: str, tok: Token | None = None) -> RuleError:
        tok = tok or self.tok
        return RuleError(message, tok.start, tok.end, self.text)

    def _found(self, tok: Token) -> str:
        return "the end of the rule" if tok.kind == "end" else repr(tok.text)

    # -- grammar

    def rule(self) -> Rule:
        if self.tok.kind == "end":
            raise self._error("the rule is empty: write a condition such as oi_4h > 8")
        condition = self._or()
        cycles = self._for() if self._is("for") else 1
        symbol = self._on() if self._is("on") else None
        if self.tok.kind != "end":
            what = "'and', 'or', 'for N cycles' or 'on SYMBOL'"
            raise self._error(f"expected {what}, found {self._found(self.tok)}")
        return Rule(condition, cycles, symbol)

    def _for(self) -> int:
        self._next()
        tok = self._next()
        if tok.kind != "num" or not tok.text.isdigit() or len(tok.text) > 4:
            raise self._error("expected a whole number of cycles after 'for'", tok)
        n = int(tok.text)
        if not 1 <= n <= MAX_FOR_CYCLES:
            raise self._error(f"'for' takes 1 to {MAX_FOR_CYCLES} cycles", tok)
        if self._is("cycle", "cycles"):
            self._next()
        return n

    def _on(self) -> str | None:
        self._next()
        tok = self._next()
        if tok.kind != "rest" or not tok.text:
            raise self._error("expected a symbol or 'market' after 'on'", tok)
        if tok.text.lower() == "market":
            return None
        if _SYMBOL.fullmatch(tok.text) is None:
            raise self._error("expected one symbol after 'on', e.g. on BTC", tok)
        return tok.text

    def _or(self) -> Condition:
        items = [self._and()]
        while self._is("or"):
            self._next()
            items.append(self._and())
        return items[0] if len(items) == 1 else Any_(tuple(items))

    def _and(self) -> Condition:
        items = [self._not()]
        while self._is("and"):
            self._next()
            items.append(self._not())
        return items[0] if len(items) == 1 else All(tuple(items))

    def _not(self) -> Condition:
        if self._is("not"):
            with _Nested(self):
                self._next()
                return Not(self._not())
        if self.tok.kind == "(":
            with _Nested(self):
                self._next()
                inner = self._or()
                if self.tok.kind != ")":
                    raise self._error(f"expected ')', found {self._found(self.tok)}")
                self._next()
                return inner
        return self._comparison()

    def _comparison(self) -> Compare:
        left = self._operand()
        tok = self.tok
        if tok.kind != "op":
            if left.field is None and left.word is not None:
                raise self._unknown_field(left.token)
            raise self._error(f"expected a comparison (> >= < <= == !=), found {self._found(tok)}")
        self._next()
        right = self._operand()
        self.comparisons += 1
        if self.comparisons > MAX_COMPARISONS:
            raise self._error(f"a rule has at most {MAX_COMPARISONS} comparisons", right.token)
        return _check(self, left, COMPARATORS[tok.text], right, tok)

    def _operand(self) -> _Operand:
        tok = self.tok
        if tok.kind == "-" or tok.kind == "num":
            return self._number()
        if tok.kind == "str":
            self._next()
            return _Operand(tok, word=tok.text[1:-1].strip().lower().replace(" ", "_"))
        if tok.kind != "word" or tok.text.lower() in KEYWORDS - {"abs", "market"}:
            raise self._error(f"expected a field, a number or a word, found {self._found(tok)}")
        self._next()
        name = tok.text.lower()
        if name == "abs" and self.tok.kind == "(":
            return self._abs(tok)
        field = BY_NAME.get(name)
        return _Operand(tok, field=field) if field else _Operand(tok, word=name)

    def _number(self) -> _Operand:
        first = self._next()
        sign = 1.0
        tok = first
        if first.kind == "-":
            sign = -1.0
            tok = self._next()
            if tok.kind != "num":
                raise self._error("expected a number after '-'", tok)
        percent = self.tok.kind == "%"
        end = self._next().end if percent else tok.end
        span = Token("num", self.text[first.start : end], first.start, end)
        return _Operand(span, number=sign * float(tok.text), percent=percent)

    def _abs(self, abs_tok: Token) -> _Operand:
        self._next()
        tok = self._next()
        field = BY_NAME.get(tok.text.lower()) if tok.kind == "word" else None
        if field is None:
            raise (
                self._unknown_field(tok)
                if tok.kind == "word"
                else self._error("expected a field inside abs( )", tok)
            )
        if field.unit is Unit.WORD:
            raise self._error(f"abs( ) takes a number field; {field.name} is a word", tok)
        close = self._next()
        if close.kind != ")":
            raise self._error(f"expected ')', found {self._found(close)}", close)
        span = Token("word", self.text[abs_tok.start : close.end], abs_tok.start, close.end)
        return _Operand(span, field=field, absolute=True)

    def _unknown_field(self, tok: Token) -> RuleError:
        hint = suggest(tok.text, COLUMN_NAMES)
        return self._error(f"unknown field {tok.text!r}{hint}", tok)


class _Nested:
    """Counts nesting so a pathological `((((...` is an error, not a deep recursion."""

    def __init__(self, parser: _Parser) -> None:
        self.parser = parser

    def __enter__(self) -> None:
        self.parser.depth += 1
        if self.parser.depth > MAX_DEPTH:
            raise self.parser._error(f"nested more than {MAX_DEPTH} deep")

    def __exit__(self, *exc: object) -> None:
        self.parser.depth -= 1


# ---------------------------------------------------------------- checking


def _check(p: _Parser, left: _Operand, op: str, right: _Operand, op_tok: Token) -> Compare:
    """One comparison, typed: a field on the left, units that agree, known words."""
    if left.field is None and right.field is not None:
        left, right, op = right, left, FLIPPED[op]
    if left.field is None:
        if left.word is not None:
            raise p._unknown_field(left.token)
        raise p._error("compare a field with a number, e.g. oi_4h > 8", left.token)
    field = left.field
    ref = FieldRef(field.name, left.absolute)
    if field.unit is Unit.WORD:
        return Compare(ref, _word_op(p, field, op, op_tok), _word_const(p, field, right))
    if right.field is not None:
        if right.field.unit is not field.unit:
            raise p._error(
                f"{field.name} is in {field.unit} and {right.field.name} in "
                f"{right.field.unit}: they cannot be compared",
                right.token,
            )
        return Compare(ref, op, FieldRef(right.field.name, right.absolute))
    if right.number is None:
        raise p._unknown_field(right.token)
    if right.percent and field.unit not in (Unit.PERCENT, Unit.PERCENTILE):
        raise p._error(f"{field.name} is in {field.unit}, not percent: drop the %", right.token)
    return Compare(ref, op, Const(right.number, percent=right.percent))


def _word_op(p: _Parser, field: Field, op: str, op_tok: Token) -> str:
    if field.ordered or op in ("==", "!="):
        return op
    raise p._error(f"{field.name} has no order: use == or !=", op_tok)


def _word_const(p: _Parser, field: Field, right: _Operand) -> Const:
    words = WORD_CODES[field.name]
    if right.word is None:
        choices = ", ".join(field.words)
        raise p._error(f"{field.name} is compared with a word: {choices}", right.token)
    code = words.get(right.word)
    if code is None:
        hint = suggest(right.word, sorted(words))
        raise p._error(f"{right.word!r} is not a {field.name}{hint}", right.token)
    return Const(float(code), word=right.word)
