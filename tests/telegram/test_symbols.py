"""Typed symbols resolve, with suggestions (bot/telegram/symbols.py)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.telegram.symbols import resolve

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")

UNIVERSE = [
    "BTCUSDT",
    "ETHUSDT",
    "SOLUSDT",
    "1000SHIBUSDT",
    "1000PEPEUSDT",
    "1INCHUSDT",
    "DOGEUSDT",
    "1MBABYDOGEUSDT",
    "PERPUSDT",
    "BANANAS31USDT",
]


@pytest.mark.parametrize(
    ("typed", "symbol"),
    [
        ("btc", "BTCUSDT"),
        (" $Btc ", "BTCUSDT"),
        ("btc-usdt", "BTCUSDT"),
        ("BTC-PERP", "BTCUSDT"),
        ("shib", "1000SHIBUSDT"),
        ("1000pepe", "1000PEPEUSDT"),
        ("pepe", "1000PEPEUSDT"),
        ("babydoge", "1MBABYDOGEUSDT"),
        ("1inch", "1INCHUSDT"),
        ("perp", "PERPUSDT"),
        ("bananas31", "BANANAS31USDT"),
    ],
)
def test_resolve(typed, symbol):
    assert resolve(typed, UNIVERSE).symbol == symbol


def test_did_you_mean():
    assert resolve("btcc", UNIVERSE).suggestions[0] == "BTCUSDT"
    assert resolve("eht", UNIVERSE).suggestions[:1] == ["ETHUSDT"]
    assert "DOGEUSDT" in resolve("dog", UNIVERSE).suggestions
    assert resolve("qqqqqq", UNIVERSE).suggestions == []


@given(st.text(max_size=100))
@settings(max_examples=200, deadline=None)
def test_resolve_never_raises(raw):
    match = resolve(raw, UNIVERSE)
    assert match.symbol is None or match.symbol in UNIVERSE
    assert set(match.suggestions) <= set(UNIVERSE) and len(match.query) <= 100
