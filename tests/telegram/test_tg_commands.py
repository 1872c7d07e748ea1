"""Every command against a real PTB Application polling the fake Bot API."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import select

from bot.config import Settings
from bot.scoring.formula import ScoringParams
from bot.storage import chat_repo
from bot.storage.models import Chat, Subscription
from bot.views import market
from fakes.bot_harness import BotWithWorker
from fakes.fake_telegram import FakeTelegram
from tests.telegram.helpers import ADMIN_ID, Alert, add_deliveries, empty_cycle

pytestmark = pytest.mark.slow(seconds=40)

USER = 42


# New chats start at the configured default band (calibrated; docs/scoring.md).
DEFAULT_BAND = Settings().alerts.default_min_band


async def ask(fake: FakeTelegram, text: str, chat_id: int = USER, **kw: Any):  # type: ignore[no-untyped-def]
    """Send `text` and return the next message the bot sends to that chat."""
    before = len(fake.messages_to(chat_id))
    fake.push_message(chat_id, text, **kw)
    return (await fake.wait_for_messages(chat_id, before + 1))[before]


async def tap(fake: FakeTelegram, chat_id: int, data: str, **kw: Any) -> dict[str, Any]:
    before = len(fake.answers)
    fake.push_callback(chat_id, data, **kw)
    return (await fake.wait_for_answers(before + 1))[before]


def pre_lines(text: str) -> list[str]:
    m = re.search(r"<pre>(.*?)</pre>", text, re.S)
    assert m, text
    return m.group(1).split("\n")


# ---------------------------------------------------------------- start, help, menu


async def test_command_menu_is_registered_at_start(runtime: BotWithWorker, fake_tg: FakeTelegram):
    # Per scope: tests/telegram/test_tg_command_menus.py.
    assert fake_tg.menu_names("all_private_chats") == [
        "top",
        "symbol",
        "subscribe",
        "unsubscribe",
        "subscriptions",
        "market",
        "settings",
        "rule",
        "webhook",
        "help",
    ]
    assert fake_tg.calls["getMe"] == 1 and fake_tg.calls["deleteWebhook"] == 1


async def test_start_onboards_with_one_tap_example(
    runtime: BotWithWorker, fake_tg: FakeTelegram, sessions
):
    reply = await ask(fake_tg, "/start")
    assert "derivatives stress" in reply.visible
    assert reply.parse_mode == "HTML"
    assert ("📈 Show top 10", "top:10:all") in reply.buttons()
    async with sessions() as s:
        chat = await s.get(Chat, USER)
    assert chat is not None and chat.active and chat.min_band == DEFAULT_BAND
    before = len(fake_tg.messages_to(USER))
    await tap(fake_tg, USER, "top:10:all")
    table = (await fake_tg.wait_for_messages(USER, before + 1))[-1]
    assert table.visible.startswith("Avg stress")


async def test_help_lists_commands(runtime: BotWithWorker, fake_tg: FakeTelegram):
    reply = await ask(fake_tg, "/help")
    for command in ("/top", "/symbol BTC", "/subscribe", "/unsubscribe", "/market", "/settings"):
        assert command in reply.visible


# ---------------------------------------------------------------- /top


async def test_top_shows_summary_and_a_phone_width_table(
    runtime: BotWithWorker, fake_tg: FakeTelegram
):
    reply = await ask(fake_tg, "/top")
    print("\n--- /top reply (visible) ---\n" + reply.visible)
    first = reply.visible.splitlines()[0]
    assert re.fullmatch(r"Avg stress \d+ · Long bias 9 · Short bias 2 · Neutral 1", first)
    lines = pre_lines(reply.text or "")
    assert len(lines) == 11  # header + 10 rows
    assert all(len(line) <= 40 for line in lines)
    assert lines[1].split()[:3] == ["1", "SOL", "64"]  # score-descending, USDT stripped
    scores = [int(line.split()[2]) for line in lines[1:]]
    assert scores == sorted(scores, reverse=True)
    assert [b for b, _ in reply.buttons()] == ["• All", "Long", "Short", "OI/funding", "Liq"]


async def test_top_unknown_oi_is_a_dash_never_zero(runtime: BotWithWorker, fake_tg: FakeTelegram):
    reply = await ask(fake_tg, "/top 12")
    eth = next(line for line in pre_lines(reply.text or "") if " ETH " in line)
    assert eth.count("—") == 2 and "+0.00 " not in eth


async def test_top_arguments(runtime: BotWithWorker, fake_tg: FakeTelegram):
    reply = await ask(fake_tg, "/top 3 long")
    rows = pre_lines(reply.text or "")[1:]
    assert len(rows) == 3 and all(" L " in r for r in rows)
    assert "Top long bias 3 of 12" in reply.visible
    reply = await ask(fake_tg, "/top short")
    assert [r.split()[1] for r in pre_lines(reply.text or "")[1:]] == ["SOL", "BTC"]
    reply = await ask(fake_tg, "/top squeeze")
    assert "No symbol has OI building against funding right now" in reply.visible
    reply = await ask(fake_tg, "/top banana")
    assert "didn't understand “banana”" in reply.visible and "/top [N]" in reply.visible


async def test_top_filter_buttons_edit_in_place(runtime: BotWithWorker, fake_tg: FakeTelegram):
    reply = await ask(fake_tg, "/top 5")
    await tap(fake_tg, USER, "topf:5:short", message_id=reply.message_id)
    [edit] = await fake_tg.wait_for_edits(USER, 1)
    assert edit.message_id == reply.message_id and "Top short bias 2" in edit.visible


async def test_top_without_data_is_polite(start, settings, fake_tg: FakeTelegram):
    await start(settings)
    reply = await ask(fake_tg, "/top")
    assert "first market scan" in reply.visible


# ---------------------------------------------------------------- /symbol


async def test_symbol_card_is_a_chart_with_the_card_as_caption(
    runtime: BotWithWorker, fake_tg: FakeTelegram
):
    reply = await ask(fake_tg, "/symbol kas")
    assert reply.method == "sendPhoto" and reply.photo_bytes > 1000
    card = reply.visible
    print("\n--- /symbol KAS caption ---\n" + card)
    for part in (
        "KASUSDT",
        "Score 24/100 · lean",
        "Bias LONG",
        "Net long bias building",
        "OI 1h -0.06% · 4h",
        "24h +11.90%",
        "Funding +0.0050% per 4h = +0.0100% per 8h",
        "Basis -0.130%",
        "mark",
        "index",
        "OI build",
        "Funding 30%",
        "Basis 40%",
        "old (cycle",
    ):
        assert part in card, part
    assert len(card) <= 1024
    assert reply.buttons() == [("🔔 Subscribe", "sub:KASUSDT")]


async def test_card_buttons_subscribe_and_unsubscribe(
    runtime: BotWithWorker, fake_tg: FakeTelegram, sessions
):
    card = await ask(fake_tg, "/symbol BTCUSDT")
    answer = await tap(fake_tg, USER, "sub:BTCUSDT", message_id=card.message_id)
    assert "Subscribed to BTCUSDT" in answer["text"]
    [edit] = await fake_tg.wait_for_edits(USER, 1)
    assert edit.buttons() == [("🔕 Unsubscribe", "uns:BTCUSDT")]
    async with sessions() as s:
        kinds = sorted((await s.scalars(select(Subscription.kind))).all())
    assert kinds == ["bands"]  # alerts.default_kinds: squeeze alerts are opt-in
    answer = await tap(fake_tg, USER, "uns:BTCUSDT", message_id=card.message_id)
    assert "Unsubscribed" in answer["text"]
    edits = await fake_tg.wait_for_edits(USER, 2)
    assert edits[-1].buttons() == [("🔔 Subscribe", "sub:BTCUSDT")]


@pytest.mark.parametrize(
    ("typed", "symbol"),
    [
        ("btc", "BTCUSDT"),
        ("$BTC", "BTCUSDT"),
        ("BTCUSDT", "BTCUSDT"),
        ("btc/usdt", "BTCUSDT"),
        ("1000shib", "1000SHIBUSDT"),
        ("shib", "1000SHIBUSDT"),
        ("#sol", "SOLUSDT"),
        ("BTCUSDT.P", "BTCUSDT"),
    ],
)
async def test_symbol_input_is_forgiving(
    runtime: BotWithWorker, fake_tg: FakeTelegram, typed, symbol
):
    reply = await ask(fake_tg, f"/symbol {typed}")
    assert reply.visible.startswith(f"{symbol} · Binance perp")


async def test_unknown_symbol_gets_did_you_mean(runtime: BotWithWorker, fake_tg: FakeTelegram):
    reply = await ask(fake_tg, "/symbol btcc")
    assert "I don't know the symbol “BTCC”" in reply.visible
    assert "Did you mean BTCUSDT" in reply.visible
    assert ("BTCUSDT", "sym:BTCUSDT") in reply.buttons()
    before = len(fake_tg.messages_to(USER))
    await tap(fake_tg, USER, "sym:BTCUSDT")
    card = (await fake_tg.wait_for_messages(USER, before + 1))[-1]
    assert card.method == "sendPhoto" and "BTCUSDT" in card.visible
    reply = await ask(fake_tg, "/symbol zzzzqqq")
    assert "Check the spelling" in reply.visible and reply.buttons() == []


async def test_symbol_without_argument_shows_usage(runtime: BotWithWorker, fake_tg: FakeTelegram):
    reply = await ask(fake_tg, "/symbol")
    assert reply.visible == "Usage: /symbol BTC"


# ---------------------------------------------------------------- subscriptions


async def test_subscribe_without_a_kind_follows_band_changes(
    runtime: BotWithWorker, fake_tg: FakeTelegram
):
    # alerts.default_kinds: squeeze alerts showed no lift out of sample, so opt-in.
    reply = await ask(fake_tg, "/subscribe sol")
    assert reply.visible.startswith("🔔 Subscribed to SOLUSDT: band changes.")


async def test_subscribe_list_and_remove(runtime: BotWithWorker, fake_tg: FakeTelegram, sessions):
    reply = await ask(fake_tg, "/subscribe eth squeeze")
    assert reply.visible == "🔔 Subscribed to ETHUSDT: OI building against funding."
    reply = await ask(fake_tg, "/subscribe doge both")
    assert "DOGEUSDT: band changes and OI building against funding" in reply.visible
    assert f"Band alerts start at {DEFAULT_BAND}" in reply.visible
    reply = await ask(fake_tg, "/subscribe doge bands")
    assert "Already subscribed to DOGEUSDT" in reply.visible
    listing = await ask(fake_tg, "/subscriptions")
    assert "Band changes and OI building against funding (1): DOGE" in listing.visible
    assert "OI building against funding only (1): ETH" in listing.visible
    assert listing.buttons() == [("✖ DOGE", "rm:DOGEUSDT"), ("✖ ETH", "rm:ETHUSDT")]
    answer = await tap(fake_tg, USER, "rm:DOGEUSDT", message_id=listing.message_id)
    assert "Unsubscribed from DOGEUSDT" in answer["text"]
    [edit] = await fake_tg.wait_for_edits(USER, 1)
    assert "DOGE" not in edit.visible and edit.buttons() == [("✖ ETH", "rm:ETHUSDT")]
    reply = await ask(fake_tg, "/unsubscribe eth")
    assert reply.visible == "🔕 Unsubscribed from ETHUSDT."
    reply = await ask(fake_tg, "/unsubscribe eth")
    assert "wasn't subscribed" in reply.visible
    await ask(fake_tg, "/subscribe btc both")
    reply = await ask(fake_tg, "/unsubscribe all")
    assert reply.visible == "Removed all 2 subscriptions."
    async with sessions() as s:
        assert (await s.scalars(select(Subscription))).all() == []


async def test_subscribe_unknown_symbol_suggests(runtime: BotWithWorker, fake_tg: FakeTelegram):
    reply = await ask(fake_tg, "/subscribe dogge")
    assert "Did you mean DOGEUSDT" in reply.visible


async def test_subscription_cap_per_chat(start, make_settings, sessions, fake_tg: FakeTelegram):
    from tests.telegram.helpers import add_market

    await add_market(sessions)
    await start(make_settings(subscriptions_per_chat=2))
    await ask(fake_tg, "/subscribe btc")
    await ask(fake_tg, "/subscribe eth")
    reply = await ask(fake_tg, "/subscribe sol")
    assert "already follows 2 symbols" in reply.visible
    reply = await ask(fake_tg, "/subscribe btc squeeze")  # same symbol: not a new one
    assert "Subscribed to BTCUSDT: OI building against funding" in reply.visible
    reply = await ask(fake_tg, "/subscribe btc both")
    assert "Already subscribed" in reply.visible


async def test_market_wide_subscription(runtime: BotWithWorker, fake_tg: FakeTelegram, sessions):
    reply = await ask(fake_tg, "/market")
    assert "Market-wide alerts: off" in reply.visible
    reply = await ask(fake_tg, "/market stretched")
    assert "any symbol entering stretched or above" in reply.visible
    assert ("✓ Stretched+", "mkt:stretched") in reply.buttons()
    await tap(fake_tg, USER, "mkt:squeeze", message_id=reply.message_id)
    [edit] = await fake_tg.wait_for_edits(USER, 1)
    assert "OI building against funding" in edit.visible
    assert ("✓ OI/funding", "mkt:squeeze") in edit.buttons()
    async with sessions() as s:
        subs = {(x.symbol, x.kind, x.min_band) for x in (await s.scalars(select(Subscription)))}
    assert subs == {("*", "bands", "stretched"), ("*", "squeeze", None)}
    reply = await ask(fake_tg, "/market off")
    assert "Market-wide alerts: off" in reply.visible
    reply = await ask(fake_tg, "/market sideways")
    assert "didn't understand" in reply.visible


async def test_settings_show_and_change(runtime: BotWithWorker, fake_tg: FakeTelegram, sessions):
    reply = await ask(fake_tg, "/settings")
    assert f"Minimum band: {DEFAULT_BAND}" in reply.visible and "Quiet hours: off" in reply.visible
    assert (f"✓ {DEFAULT_BAND}", f"set:band:{DEFAULT_BAND}") in reply.buttons()
    await tap(fake_tg, USER, "set:band:lean", message_id=reply.message_id)
    [edit] = await fake_tg.wait_for_edits(USER, 1)
    assert "Minimum band: lean" in edit.visible and ("✓ lean", "set:band:lean") in edit.buttons()
    assert (await ask(fake_tg, "/settings direction up")).visible == "✓ Band changes: upward only"
    assert (await ask(fake_tg, "/settings quiet 22-07")).visible == "✓ Quiet hours 22-07 UTC"
    assert (await ask(fake_tg, "/settings mute 8")).visible == "✓ Muted for 8 h"
    reply = await ask(fake_tg, "/settings quiet 25-99")
    assert "didn't understand" in reply.visible
    async with sessions() as s:
        chat = await chat_repo.get_chat(s, USER)
    assert chat is not None
    assert (chat.min_band, chat.direction, chat.quiet_start_min, chat.quiet_end_min) == (
        "lean",
        "up",
        22 * 60,
        7 * 60,
    )
    assert chat.muted_until_ms is not None
    reply = await ask(fake_tg, "/settings")
    assert "Quiet hours: 22:00-07:00 UTC" in reply.visible
    assert re.search(r"Muted: for (7 h 59 min|8 h)", reply.visible)


# ---------------------------------------------------------------- authorisation


async def test_status_is_for_operators_only(runtime: BotWithWorker, fake_tg: FakeTelegram):
    reply = await ask(fake_tg, "/status")
    assert reply.visible == "Sorry, that command is for the bot's operators only."
    reply = await ask(fake_tg, "/status", chat_id=ADMIN_ID)
    text = reply.visible
    print("\n--- /status ---\n" + text)
    assert re.search(r"Last cycle #3 \(ok\)", text)
    assert "Symbols 12/12 fetched, 0 failed · weight 650" in text
    assert "Deliveries: pending 0 · sent 0 · failed 0 · dropped 0" in text
    assert "Chats: " in text and "subscriptions 0" in text


async def test_group_commands_addressed_with_botname(runtime: BotWithWorker, fake_tg: FakeTelegram):
    group = -1001
    reply = await ask(fake_tg, "/top@pressure_test_bot 3", chat_id=group, user_id=5)
    assert reply.visible.startswith("Avg stress") and reply.reply_to is not None
    fake_tg.push_message(group, "/top@some_other_bot", user_id=5)
    reply = await ask(fake_tg, "/help@Pressure_Test_Bot", chat_id=group, user_id=5)
    assert "Commands" in reply.visible
    await fake_tg.wait_until_polled()
    assert len(fake_tg.messages_to(group)) == 2  # nothing for the other bot's command


async def test_only_group_admins_change_group_subscriptions(
    runtime: BotWithWorker, fake_tg: FakeTelegram, sessions
):
    group, member, admin = -1002, 5, 6
    fake_tg.set_admins(group, admin)
    reply = await ask(fake_tg, "/subscribe btc", chat_id=group, user_id=member)
    assert reply.visible == "Only this group's administrators can change its alerts."
    reply = await ask(fake_tg, "/market stressed", chat_id=group, user_id=member)
    assert "administrators" in reply.visible
    reply = await ask(fake_tg, "/settings band lean", chat_id=group, user_id=member)
    assert "administrators" in reply.visible
    async with sessions() as s:
        assert (await s.scalars(select(Subscription))).all() == []
    reply = await ask(fake_tg, "/subscribe btc", chat_id=group, user_id=admin)
    assert "Subscribed to BTCUSDT" in reply.visible
    # Reading is for everyone; buttons that change things check the tapper.
    listing = await ask(fake_tg, "/subscriptions", chat_id=group, user_id=member)
    answer = await tap(fake_tg, group, "rm:BTCUSDT", message_id=listing.message_id, user_id=member)
    assert answer["text"] == "Only this group's administrators can change its alerts."
    assert answer.get("show_alert") in (True, "true", "True")
    # An anonymous admin posts as the group itself.
    reply = await ask(
        fake_tg, "/subscribe eth", chat_id=group, user_id=1087968824, sender_chat_id=group
    )
    assert "Subscribed to ETHUSDT" in reply.visible
    async with sessions() as s:
        symbols = sorted((await s.scalars(select(Subscription.symbol).distinct())).all())
    assert symbols == ["BTCUSDT", "ETHUSDT"]
    assert fake_tg.calls["getChatMember"] >= 4


# ---------------------------------------------------------------- bad input


async def test_unknown_command_and_plain_text(runtime: BotWithWorker, fake_tg: FakeTelegram):
    reply = await ask(fake_tg, "/frobnicate now")
    assert reply.visible == "I don't know /frobnicate. Send /help for the list of commands."
    reply = await ask(fake_tg, "hello bot")
    assert "/top" in reply.visible and "/help" in reply.visible


async def test_arguments_are_length_capped(runtime: BotWithWorker, fake_tg: FakeTelegram):
    reply = await ask(fake_tg, "/symbol " + "A" * 65)
    assert "longer than I accept (64 characters" in reply.visible
    reply = await ask(fake_tg, "/subscribe " + " ".join(["btc"] * 20))
    assert "longer than I accept" in reply.visible


async def test_per_user_command_rate_limit(start, make_settings, sessions, fake_tg: FakeTelegram):
    await start(make_settings(commands_per_minute=3))
    for _ in range(3):
        assert "Commands" in (await ask(fake_tg, "/help")).visible
    reply = await ask(fake_tg, "/help")
    assert "You're sending commands quickly (limit 3/min)" in reply.visible
    fake_tg.push_message(USER, "/help")  # refused silently: no reply amplification
    reply = await ask(fake_tg, "/help", chat_id=43)  # other users are not affected
    assert "Commands" in reply.visible
    await fake_tg.wait_until_polled()
    assert len(fake_tg.messages_to(USER)) == 4


async def test_errors_reply_politely(
    runtime: BotWithWorker, fake_tg: FakeTelegram, monkeypatch, caplog
):
    async def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("database exploded")

    monkeypatch.setattr(market, "latest_market", broken)
    reply = await ask(fake_tg, "/top")
    assert reply.visible == "Sorry, something went wrong on my side. Please try again in a moment."
    assert "Traceback" not in reply.visible and "exploded" not in reply.visible
    assert any("error while handling an update" in r.message for r in caplog.records)


NASTY = [
    "/top 99999999999999999999",
    "/top -5",
    "/top 0",
    "/top <b>",
    "/symbol <script>alert(1)</script>",
    "/symbol &amp;",
    "/symbol 🚀🚀🚀",
    "/symbol \u202eBTC",
    "/symbol ' OR 1=1 --",
    "/subscribe \u200bbtc",
    "/settings quiet 99-99",
    "/settings mute 100000",
    "/settings band",
    "/market " + "x" * 60,
    "/unsubscribe %s%s%n",
    "/symbol Ｂｔｃ",
    "/top long short squeeze 3 4",
    "/settings direction sideways",
    "/subscribe btc squeeze bands both",
    "/unsubscribe",
]


async def test_nasty_input_always_gets_a_polite_reply(
    runtime: BotWithWorker, fake_tg: FakeTelegram
):
    for i, text in enumerate(NASTY):
        chat_id = 5000 + i
        reply = await ask(fake_tg, text, chat_id=chat_id)
        assert reply.visible.strip(), text
        assert "something went wrong" not in reply.visible, text
    assert fake_tg.rejected == []  # every reply was valid HTML within Telegram's limits


# ---------------------------------------------------------------- membership


async def test_blocking_and_unblocking_the_bot(
    runtime: BotWithWorker, fake_tg: FakeTelegram, sessions
):
    cycle = await empty_cycle(sessions)
    ids = await add_deliveries(sessions, cycle, [77], [Alert("BTCUSDT")])
    runtime.outbox_worker._wake.clear()  # don't let the outbox worker race the block
    fake_tg.push_my_chat_member(77, "kicked")
    await fake_tg.wait_until_polled()
    await _wait_for(sessions, lambda chat: chat is not None and not chat.active, 77)
    async with sessions() as s:
        chat = await s.get(Chat, 77)
        from bot.storage.models import Delivery

        statuses = {d.status for d in (await s.scalars(select(Delivery))).all()}
    assert chat is not None and chat.deactivated_reason == "bot kicked"
    assert ids and statuses <= {"dropped", "sent"}
    fake_tg.push_my_chat_member(77, "member", old_status="kicked")
    await _wait_for(sessions, lambda chat: chat is not None and chat.active, 77)


async def test_group_migration_service_message(
    runtime: BotWithWorker, fake_tg: FakeTelegram, sessions
):
    group, supergroup = -3003, -1003003
    fake_tg.set_admins(group, 6)
    await ask(fake_tg, "/subscribe btc both", chat_id=group, user_id=6)
    fake_tg.push_migrate(group, supergroup)
    await _wait_for(sessions, lambda chat: chat is not None, supergroup)
    async with sessions() as s:
        subs = (await s.scalars(select(Subscription))).all()
    assert [(x.chat_id, x.symbol) for x in subs] == [(supergroup, "BTCUSDT")] * 2


async def _wait_for(sessions, predicate, chat_id: int, timeout: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    import asyncio

    async def poll() -> None:
        while True:
            async with sessions() as s:
                if predicate(await s.get(Chat, chat_id)):
                    return
            await asyncio.sleep(0.02)

    await asyncio.wait_for(poll(), timeout)


async def test_band_ranges_follow_the_configured_scoring_bounds(
    start, make_settings, sessions, fake_tg: FakeTelegram
):
    """`[scoring] lean_from = 20`: /start, the /symbol card and the chart all say 20."""
    from bot.telegram.chart_figure import band_spans
    from tests.telegram.helpers import add_market

    await add_market(sessions)
    settings = make_settings().model_copy(
        update={"scoring": ScoringParams(lean_from=20, stretched_from=35, stressed_from=60)}
    )
    runtime = await start(settings)
    welcome = (await ask(fake_tg, "/start")).visible
    assert "⚪ 0-19 neutral · 🟡 20-34 lean · 🟠 35-59 stretched · 🔴 60-100 stressed" in welcome
    card = (await ask(fake_tg, "/symbol kas")).visible
    assert "Score 24/100 · lean (20-34)" in card
    assert runtime.deps.charts.params.lean_from == 20
    assert [lo for lo, *_ in band_spans(runtime.deps.charts.params)] == [0, 20, 35, 60]
