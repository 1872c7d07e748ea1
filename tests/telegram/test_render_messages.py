"""Rendered messages fit Telegram and read right (bot/telegram/render/)."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.telegram import message_limits, render
from fakes.fake_telegram import HtmlError, parse_html, utf16_len

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")

finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)
maybe = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True), finite)


def _row(symbol: str, **kw):  # type: ignore[no-untyped-def]
    base = dict(
        symbol=symbol,
        score=50,
        band="stretched",
        bias="LONG",
        regime="Net long bias building",
        oi_1h_pct=1.0,
        oi_4h_pct=2.0,
        oi_24h_pct=3.0,
        funding_pct=0.01,
        funding_interval_hours=8,
        funding_8h_pct=0.01,
        basis_pct=0.1,
        mark_price=1.0,
        index_price=1.0,
        oi_build=0.5,
        funding_st=0.2,
        basis_st=0.3,
        ts_ms=0,
    )
    base.update(kw)
    return SimpleNamespace(**base)


@given(
    st.lists(
        st.tuples(
            st.text(min_size=1, max_size=30),
            st.integers(0, 100),
            st.sampled_from(["LONG", "SHORT", "NEUTRAL", "<x>"]),
            maybe,
            maybe,
            maybe,
        ),
        min_size=1,
        max_size=50,
    )
)
@settings(max_examples=80, deadline=None)
def test_top_table_fits_a_phone_and_is_valid_html(rows):
    objs = [
        _row(s, score=sc, bias=b, oi_1h_pct=o1, oi_24h_pct=o24, funding_8h_pct=f)
        for s, sc, b, o1, o24, f in rows
    ]
    table = render.top_table(objs)
    visible = parse_html(table)
    assert all(len(line) <= render.TABLE_WIDTH for line in visible.split("\n"))


@given(st.text(max_size=60), maybe, maybe, maybe, finite, finite, st.integers(1, 8))
@settings(max_examples=80, deadline=None)
def test_symbol_card_always_fits_a_caption(symbol, o1, o4, o24, f, basis, interval):
    row = _row(
        symbol or "X",
        oi_1h_pct=o1,
        oi_4h_pct=o4,
        oi_24h_pct=o24,
        funding_pct=f,
        funding_8h_pct=f * 8 / interval,
        funding_interval_hours=interval,
        basis_pct=basis,
        mark_price=basis * 1e5,
        index_price=-basis,
        regime="<b>weird & new</b>",
    )
    card = render.symbol_card(row, 10**13, cycle_id=123456, subscribed=True)
    visible = parse_html(card)
    assert utf16_len(visible) <= 1024 and message_limits.fits_caption(card)


def test_unknown_values_render_as_dash():
    assert render.pct(None) == "—" and render.pct(math.nan) == "—"
    assert render.compact_pct(None) == "—" and render.compact_pct(math.inf) == "—"
    assert render.pct(0.0) == "+0.00%"


def test_outside_values_are_escaped():
    text = render.unknown_symbol("<script>&", ["A<B"])
    assert "<script>" not in text and "&lt;script&gt;&amp;" in text
    parse_html(text)
    with pytest.raises(HtmlError):
        parse_html("a < b")


def test_big_digest_is_still_one_message():
    items = [
        SimpleNamespace(
            symbol=f"SYM{i}USDT",
            kind="band" if i % 3 else "squeeze",
            direction="up" if i % 2 else "enter",
            from_band="lean",
            to_band="stretched",
            from_regime="Neutral",
            to_regime="Long squeeze risk",
            score=i % 100,
            bias="LONG",
            regime="Long squeeze risk",
            oi_24h_pct=1.5,
            funding_8h_pct=0.02,
            basis_pct=0.1,
        )
        for i in range(150)
    ]
    text = render.alert_message(items)
    assert message_limits.split_message(text) == [text]
    visible = parse_html(text)
    assert visible.startswith("150 alerts") and "…and 110 more" in visible
    assert len(render.alert_keyboard(items).inline_keyboard[0]) == 3


def test_two_hundred_subscriptions_list_is_one_message():
    subs = [
        SimpleNamespace(symbol=f"SYMBOL{i:03d}USDT", kind=kind, min_band=None)
        for i in range(200)
        for kind in (("bands", "squeeze") if i % 2 else ("squeeze",))
    ]
    subs.append(SimpleNamespace(symbol="*", kind="bands", min_band="stressed"))
    text = render.subscriptions_text(subs, "stretched")
    assert message_limits.split_message(text) == [text]
    visible = parse_html(text)
    assert "Subscriptions (200)" in visible and "any symbol entering stressed" in visible
    keyboard = render.subscriptions_keyboard(subs)
    assert keyboard is not None
    assert sum(len(row) for row in keyboard.inline_keyboard) <= 100
