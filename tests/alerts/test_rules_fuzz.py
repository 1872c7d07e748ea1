"""Fuzzed rule text: the parser either returns a rule or raises RuleError, quickly; and the
compiled evaluation agrees with the reference interpreter on generated rules and rows."""

from __future__ import annotations

import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.alerts.rules.compiler import Frame, RuleBook, Target, compile_condition
from bot.alerts.rules.fields import BAND_WORDS, BIAS_WORDS, COLUMN_NAMES, REGIME_WORDS
from bot.alerts.rules.interpret import holds
from bot.alerts.rules.parser import MAX_CHARS, RuleError, parse_rule

# The parser is linear in its (capped) input; 10 ms is the budget per input. A loaded
# 2-core machine can stall any process for a while, so one slow sample is re-timed
# before it counts: an input is slow only if it is slow every time.
BUDGET_S = 0.010

VOCAB = [
    *COLUMN_NAMES,
    *BAND_WORDS,
    *BIAS_WORDS,
    *REGIME_WORDS,
    "and",
    "or",
    "not",
    "for",
    "cycles",
    "on",
    "market",
    "abs",
    "(",
    ")",
    ">",
    ">=",
    "<",
    "<=",
    "==",
    "!=",
    "=",
    "%",
    "-",
    "8",
    "0.03",
    "-1.5",
    ".5",
    "1000shib",
    "BTC",
    '"Long crowded"',
    "'x",
    "scor",
    "fundng_8h",
    "@",
    "#",
    "\u00e9",
    "\x00",
    "9" * 60,
]
token_soup = st.lists(st.sampled_from(VOCAB), max_size=80).map(" ".join)
any_text = st.text(max_size=MAX_CHARS + 20)


def _parse_within_budget(text: str) -> None:
    for _ in range(3):
        started = time.perf_counter()
        try:
            parse_rule(text)
        except RuleError as err:
            assert err.message and 0 <= err.start <= len(text)
            err.pointer()
        if time.perf_counter() - started < BUDGET_S:
            return
    raise AssertionError(f"parsing took over {BUDGET_S * 1000:.0f} ms three times: {text!r}")


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(token_soup, any_text))
def test_no_input_crashes_the_parser_or_takes_long(text: str):
    _parse_within_budget(text)


def test_worst_inputs_within_budget():
    for text in (
        "(" * 5000,
        "not " * 2000,
        "score > 1 and " * 28 + "score > 1",
        "abs(" * 100,
        "x" * MAX_CHARS,
        "9" * MAX_CHARS,
        "score > 1 on " + "a" * 380,
    ):
        _parse_within_budget(text)


# ---------------------------------------------------------------- compiled == interpreted

NUMERIC = ["score", "oi_1h", "oi_4h", "oi_24h", "funding_8h", "basis"]
PERCENT = ["oi_1h", "oi_4h", "oi_24h", "funding_8h", "basis"]
ops = st.sampled_from([">", ">=", "<", "<=", "==", "!="])
comparison = st.one_of(
    st.builds(
        lambda f, o, v, a: f"{'abs(' + f + ')' if a and f != 'score' else f} {o} {v}",
        st.sampled_from(NUMERIC),
        ops,
        st.sampled_from([-2, -0.5, 0, 0.01, 1, 3, 50]),
        st.booleans(),
    ),
    st.builds(
        lambda a, o, b: f"{a} {o} {b}", st.sampled_from(PERCENT), ops, st.sampled_from(PERCENT)
    ),
    st.builds(lambda o, w: f"band {o} {w}", ops, st.sampled_from(BAND_WORDS)),
    st.builds(
        lambda o, w: f"bias {o} {w}", st.sampled_from(["==", "!="]), st.sampled_from(BIAS_WORDS)
    ),
)
condition = st.recursive(
    comparison,
    lambda inner: st.one_of(
        st.builds(lambda a, b: f"({a} and {b})", inner, inner),
        st.builds(lambda a, b: f"({a} or {b})", inner, inner),
        st.builds(lambda a: f"not ({a})", inner),
    ),
    max_leaves=6,
)
value = st.one_of(
    st.none(),
    st.sampled_from([-2.0, -0.5, 0.0, 0.01, 1.0, 3.0, 50.0]),
    st.floats(-100, 100, allow_nan=False),
)
row = st.fixed_dictionaries(
    {name: value for name in NUMERIC}
    | {"band": st.integers(0, 3).map(float), "bias": st.integers(0, 2).map(float)}
)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(condition, min_size=1, max_size=8),
    st.lists(row, min_size=1, max_size=6),
    st.lists(st.booleans(), min_size=8, max_size=8),
)
def test_compiled_evaluation_matches_the_interpreter(conditions, rows, market):
    rules = [parse_rule(c) for c in conditions]
    symbols = [f"S{i}" for i in range(len(rows))]
    targets = [
        Target("x", None if market[i] else symbols[i % len(rows)]) for i in range(len(rules))
    ]
    book = RuleBook([compile_condition(r.condition) for r in rules], targets)
    frame = Frame.build(("x", s, r) for s, r in zip(symbols, rows, strict=True))
    got = set(zip(*(a.tolist() for a in book.hits(frame)), strict=True))
    want = {
        (i, j)
        for i, (rule, target) in enumerate(zip(rules, targets, strict=True))
        for j, s in enumerate(frame.symbols)
        if (target.symbol is None or target.symbol == s) and holds(rule.condition, rows[int(s[1:])])
    }
    assert got == want


def test_unknown_values_never_fire_even_negated():
    rows = [("x", "A", {"oi_1h": None, "score": 10.0})]
    frame = Frame.build(rows)
    texts = [
        "oi_1h > 1",
        "not (oi_1h > 1)",
        "oi_1h != 1",
        "not (oi_1h == 1)",
        "oi_1h > 1 or score > 5",
    ]
    book = RuleBook([compile_condition(parse_rule(t).condition) for t in texts], [Target("x")] * 5)
    assert sorted(book.hits(frame)[0].tolist()) == [4]


def test_a_rule_on_a_symbol_missing_this_cycle_is_false_and_other_venues_are_not_read():
    frame = Frame.build([("binance", "BTCUSDT", {"score": 90.0}), ("all", "BTC", {"score": 90.0})])
    book = RuleBook(
        [compile_condition(parse_rule("score > 50").condition)] * 3,
        [Target("binance", "ETHUSDT"), Target("all"), Target("okx")],
    )
    rules, rows = book.hits(frame)
    assert rules.tolist() == [1] and frame.symbols[rows[0]] == "BTC"
