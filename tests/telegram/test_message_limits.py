"""Splitting long messages on line boundaries (bot/telegram/message_limits.py)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.telegram import message_limits, render
from fakes.fake_telegram import parse_html, utf16_len

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")


def test_long_messages_split_on_line_boundaries_and_keep_pre_balanced():
    lines = [f"line {i} " + "x" * 50 for i in range(300)]
    text = "<b>head</b>\n<pre>" + "\n".join(lines) + "</pre>\nfooter"
    parts = message_limits.split_message(text)
    assert len(parts) > 1
    for part in parts:
        assert utf16_len(part) <= 4096
        parse_html(part)  # balanced: every part is valid on its own
    joined = "\n".join(p.replace("<pre>", "").replace("</pre>", "") for p in parts)
    assert joined.replace("<b>head</b>\n", "").split("\n")[:-1] == lines


def test_short_message_is_not_split():
    assert message_limits.split_message("hello\nworld") == ["hello\nworld"]


@given(st.text(min_size=0, max_size=20000))
@settings(max_examples=60, deadline=None)
def test_split_never_exceeds_the_limit(raw):
    text = render.esc(raw)
    parts = message_limits.split_message(text, limit=500)
    assert all(utf16_len(p) <= 500 for p in parts)
    for p in parts:
        parse_html(p)  # never cut inside an entity
