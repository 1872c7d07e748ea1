"""Callback data stays within Telegram's 64 bytes and keeps its wire format
(bot/telegram/callback_data.py)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from bot.telegram import callback_data, render

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")


def test_callback_data_is_bounded():
    assert callback_data.cb("sub", "BTCUSDT") == "sub:BTCUSDT"
    with pytest.raises(ValueError):
        callback_data.cb("sub", "X" * 80)
    assert callback_data.parse_cb("set:band:lean") == ("set", ["band", "lean"])


def test_typed_callback_actions_keep_the_wire_format():
    """Buttons already sitting in chats carry these strings: each must still unpack to
    the action it meant, and packing that action must give the same string back."""
    cd = callback_data
    wire = {
        "top:10:all": cd.ShowTop(10, "all"),
        "topf:5:short": cd.FilterTop(5, "short"),
        "sym:BTCUSDT": cd.ShowSymbol("BTCUSDT"),
        "sub:BTCUSDT": cd.SubscribeSymbol("BTCUSDT"),
        "uns:ETHUSDT": cd.UnsubscribeSymbol("ETHUSDT"),
        "rm:DOGEUSDT": cd.RemoveSubscription("DOGEUSDT"),
        "rm:*": cd.RemoveSubscription("*"),
        "mkt:stretched": cd.SetMarket("stretched"),
        "set:band:lean": cd.ChangeSetting(("band", "lean")),
        "set:mute:24": cd.ChangeSetting(("mute", "24")),
        "mute:8": cd.MuteFromAlert("8"),
    }
    for data, action in wire.items():
        assert cd.unpack(data) == action, data
        assert action.pack() == data
    # Forged or old: a non-number size leaves the default to the handler; no arguments
    # or an unknown tag is no action at all.
    assert cd.unpack("top:abc:long") == cd.ShowTop(None, "long")
    assert cd.unpack("top:7") == cd.ShowTop(7, "")
    for data in (None, "", "top", "sym", "nope:1", "set"):
        assert cd.unpack(data) is None, data
    # Whether a tap changes the chat is read from the tag alone, arguments or not.
    assert cd.changes_chat("set") and cd.changes_chat("rm:*") and cd.changes_chat("mute:8")
    assert not cd.changes_chat("sym:BTCUSDT") and not cd.changes_chat("top:10:all")
    with pytest.raises(ValueError):
        cd.ShowSymbol("X" * 80).pack()


def test_every_rendered_button_unpacks_within_telegram_limit():
    chat = SimpleNamespace(min_band="lean", direction="up", muted_until_ms=None)
    subs = [SimpleNamespace(symbol=s, kind="bands", min_band=None) for s in ("BTCUSDT", "*")]
    keyboards = [
        render.start_keyboard(),
        render.top_keyboard("squeeze", 50),
        render.symbol_keyboard("1000SHIBUSDT", subscribed=True),
        render.symbol_keyboard("1000SHIBUSDT", subscribed=False),
        render.suggestion_keyboard(["BTCUSDT", "ETHUSDT"]),
        render.subscriptions_keyboard(subs),
        render.market_keyboard(subs),
        render.settings_keyboard(chat, 0),
    ]
    buttons = [b for k in keyboards if k for row in k.inline_keyboard for b in row]
    assert len(buttons) > 20
    for button in buttons:
        data = button.callback_data
        assert isinstance(data, str) and len(data.encode()) <= 64, data
        assert callback_data.unpack(data) is not None, data
