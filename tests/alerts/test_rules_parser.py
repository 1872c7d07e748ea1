"""The rule language: precedence, words, units, and errors that point at the bad token."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.alerts.rules.fields import FIELDS, LIVE_ONLY
from bot.alerts.rules.parser import MAX_CHARS, MAX_DEPTH, RuleError, parse_condition, parse_rule
from bot.alerts.rules.tree import All, Any_, Compare, Const, FieldRef, Not, field_names


def test_the_issue_example_parses_with_its_cycles():
    rule = parse_rule("oi_4h > 8 and funding_8h > 0.03 and basis > 0.2 for 2 cycles")
    assert rule.for_cycles == 2 and rule.symbol is None
    assert rule.condition == All(
        (
            Compare(FieldRef("oi_4h"), ">", Const(8.0)),
            Compare(FieldRef("funding_8h"), ">", Const(0.03)),
            Compare(FieldRef("basis"), ">", Const(0.2)),
        )
    )


def test_not_binds_tighter_than_and_which_binds_tighter_than_or():
    c = parse_condition("not score > 50 and oi_1h > 1 or basis < 0")
    assert isinstance(c, Any_)
    first, second = c.items
    assert isinstance(first, All) and isinstance(first.items[0], Not)
    assert second == Compare(FieldRef("basis"), "<", Const(0.0))
    grouped = parse_condition("score > 50 and (oi_1h > 1 or basis < 0)")
    assert isinstance(grouped, All) and isinstance(grouped.items[1], Any_)


def test_words_percent_abs_negative_numbers_and_flipped_sides():
    c = parse_condition("band >= stretched and bias == SHORT and regime = long_squeeze")
    assert isinstance(c, All)
    assert [str(i) for i in c.items] == [
        "band >= stretched",
        "bias == short",
        "regime == long_squeeze",
    ]
    assert str(parse_condition("abs(funding_8h) > 0.05%")) == "abs(funding_8h) > 0.05%"
    assert parse_condition("-0.02 > funding_8h") == Compare(
        FieldRef("funding_8h"), "<", Const(-0.02)
    )
    assert str(parse_condition('regime == "Short squeeze risk"')) == (
        "regime == short_squeeze_risk"
    )
    assert str(parse_condition("oi_4h_pct > oi_24h_pct")) == "oi_4h > oi_24h"


@pytest.mark.parametrize(
    ("text", "symbol"),
    [
        ("score > 60 on BTC", "BTC"),
        ("score > 60 on 1000shib", "1000shib"),
        ("score > 60 on $sol", "$sol"),
        ("score > 60 on market", None),
        ("score > 60 for 3 cycles on BTC-USDT-SWAP", "BTC-USDT-SWAP"),
    ],
)
def test_on_symbol_or_market(text: str, symbol: str | None):
    assert parse_rule(text).symbol == symbol


def test_the_rule_prints_back_as_it_reads():
    text = "not (score >= 60 or band == stressed) and oi_4h > 8% for 2 cycles on BTC"
    assert str(parse_rule(text)) == text
    assert str(parse_rule(str(parse_rule(text)))) == text


@pytest.mark.parametrize(
    ("text", "message", "marked"),
    [
        (
            "oi_4h > 8 and fundng_8h > 0.03",
            "unknown field 'fundng_8h'; did you mean funding_8h",
            "fundng_8h",
        ),
        ("scor > 60", "did you mean score", "scor"),
        ("score > 60%", "score is in points, not percent", "60%"),
        ("band > 3", "band is compared with a word: neutral, lean, stretched, stressed", "3"),
        ("band == stresed", "'stresed' is not a band; did you mean stressed", "stresed"),
        ("bias > long", "bias has no order", ">"),
        ("8 > 9", "compare a field with a number", "8"),
        ("score > 60 and", "expected a field, a number or a word, found the end", ""),
        ("(score > 60", "expected ')'", ""),
        ("score > 60)", "expected 'and', 'or', 'for N cycles' or 'on SYMBOL', found ')'", ")"),
        ("score 60", "expected a comparison", "60"),
        ("score > 60 for 0 cycles", "'for' takes 1 to", "0"),
        ("score > 60 for two cycles", "expected a whole number of cycles", "two"),
        ("score > 60 on", "expected a symbol or 'market' after 'on'", ""),
        ("score > 60 on btc eth", "expected one symbol", "btc eth"),
        ("score > 60 # ", "unexpected character '#'", "#"),
        ("oi_4h > score", "oi_4h is in percent and score in points", "score"),
        ("", "the rule is empty", ""),
    ],
)
def test_errors_name_the_problem_and_point_at_it(text: str, message: str, marked: str):
    with pytest.raises(RuleError) as info:
        parse_rule(text)
    err = info.value
    assert message in err.message
    if marked:
        assert text[err.start : err.end] == marked
    line, carets = err.pointer().split("\n")
    assert line == text and carets.strip(" ") == "^" * len(carets.strip(" "))
    assert carets.index("^") == err.start


def test_size_nesting_and_comparison_count_are_capped():
    with pytest.raises(RuleError, match="at most"):
        parse_rule("score > 1 and " * 40 + "score > 1")
    with pytest.raises(RuleError, match="nested more than"):
        parse_rule("(" * (MAX_DEPTH + 1) + "score > 1" + ")" * (MAX_DEPTH + 1))
    with pytest.raises(RuleError, match="nested more than"):
        parse_rule("not " * (MAX_DEPTH + 1) + "score > 1")
    with pytest.raises(RuleError, match=f"at most {MAX_CHARS} characters"):
        parse_rule("score > 1" + " " * MAX_CHARS)
    parse_rule("(" * MAX_DEPTH + "score > 1" + ")" * MAX_DEPTH)


def test_liquidation_fields_parse_with_their_units_and_are_suggested():
    rule = parse_rule("liq_1h_oi_pct > 0.5% and liq_1h_x_normal >= 5 and liq_coverage_1h > 0.9")
    assert field_names(rule.condition) == {"liq_1h_oi_pct", "liq_1h_x_normal", "liq_coverage_1h"}
    assert field_names(rule.condition) <= LIVE_ONLY
    parse_rule("liq_15m_long_oi_pct > liq_15m_short_oi_pct")  # both percent
    with pytest.raises(RuleError, match="liq_1h_long_usd is in USD and liq_1h_oi_pct in percent"):
        parse_rule("liq_1h_long_usd > liq_1h_oi_pct")
    with pytest.raises(RuleError, match="in USD, not percent: drop the %"):
        parse_rule("liq_1h_long_usd > 5%")
    with pytest.raises(RuleError, match="did you mean liq_1h_oi_pct"):
        parse_rule("liq_1h_oi > 1")


def test_every_field_is_in_the_docs_table():
    """docs/rules.md "Fields" lists every field a rule may name (bot/alerts/rules/fields.py)."""
    docs = (Path(__file__).resolve().parents[2] / "docs" / "rules.md").read_text()
    table = docs.split("## Fields", 1)[1].lstrip().split("\n\n", 1)[0]
    assert [f.name for f in FIELDS if f"`{f.name}`" not in table] == []
