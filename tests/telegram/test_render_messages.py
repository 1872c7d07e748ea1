"""Pure parts of the Telegram side: rendering, symbols, pacing, limits, repos."""

from __future__ import annotations

import asyncio
import itertools
import math
import random
import time
from datetime import timedelta
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from telegram.error import RetryAfter

from bot.storage import chat_repo, outbox_repo
from bot.storage.models import Chat, Delivery, Subscription
from bot.telegram import callback_data, message_limits, render
from bot.telegram.auth import CommandLimiter, Verdict
from bot.telegram.flood_control import FloodControl, PriorityGate, Slot
from bot.telegram.sender import Priority, retry_after_seconds
from bot.telegram.symbols import resolve
from tests.fakes.fake_telegram import HtmlError, _Window, parse_html, utf16_len
from tests.telegram.helpers import Alert, add_chat, add_deliveries, empty_cycle

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

finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)
maybe = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True), finite)


# ---------------------------------------------------------------- splitting


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


# ---------------------------------------------------------------- rendering


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


# ---------------------------------------------------------------- symbols


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


# ---------------------------------------------------------------- pacing


def simulate(
    flood: FloodControl, chats: list[int], n: int, seed: int = 0, max_latency: float = 0.0
) -> list[tuple[float, int]]:
    """Send n messages round-robin over chats as fast as the flood control allows, with
    random network latency; returns (arrival time at Telegram, chat) per message."""
    rng = random.Random(seed)
    now, arrivals = 0.0, []
    in_flight: list[tuple[float, Slot]] = []
    queue = [chats[i % len(chats)] for i in range(n)]
    while queue:
        for done in [f for f in in_flight if f[0] <= now]:
            flood.complete(done[1], done[0])
            in_flight.remove(done)
        chat = min(queue[:50], key=lambda c: flood.wait_chat(c, now))
        wait = max(flood.wait_global(now), flood.wait_chat(chat, now))
        if wait > 0:
            upcoming = [f[0] - now for f in in_flight if f[0] > now]
            now += min([wait, *upcoming])
            continue
        slot = flood.record(chat, now)
        latency = rng.uniform(0.001, max_latency) if max_latency else 0.0
        arrivals.append((now + rng.uniform(0, latency), chat))  # anywhere on the way
        in_flight.append((now + latency, slot))
        queue.remove(chat)
    return sorted(arrivals)


def check_like_the_fake(arrivals: list[tuple[float, int]]) -> int:
    """Count the 429s the fake's rules would give messages arriving at these times."""
    violations = 0
    glob = _Window(30, 1.0)
    groups: dict[int, _Window] = {}
    tokens: dict[int, tuple[float, float]] = {}
    for t, chat in arrivals:
        if glob.retry_after(t) > 0:
            violations += 1
        glob.times.append(t)
        if chat > 0:
            tok, at = tokens.get(chat, (3.0, t))
            tok = min(3.0, tok + (t - at))
            violations += tok < 1
            tokens[chat] = (tok - 1, t)
        else:
            w = groups.setdefault(chat, _Window(20, 60.0))
            violations += w.retry_after(t) > 0
            w.times.append(t)
    return violations


@pytest.mark.parametrize("max_latency", [0.0, 0.005, 0.05, 0.3])
def test_flood_control_keeps_every_limit_whatever_the_jitter(max_latency):
    flood = FloodControl()
    arrivals = simulate(flood, list(range(1, 501)), 3000, seed=7, max_latency=max_latency)
    assert check_like_the_fake(arrivals) == 0
    rate = len(arrivals) / (arrivals[-1][0] - arrivals[0][0])
    assert rate <= 30.0
    if max_latency <= 0.005:
        assert rate >= 29.0


def test_flood_control_private_chat_burst_then_one_per_second():
    sends = simulate(FloodControl(), [7], 10)
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(sends)]
    assert check_like_the_fake(sends) == 0
    assert sends[2][0] < 0.2 and all(g >= 1.0 for g in gaps[3:])


def test_flood_control_group_twenty_per_minute():
    sends = simulate(FloodControl(), [-5], 45, max_latency=0.1)
    assert check_like_the_fake(sends) == 0
    assert sends[20][0] >= 60 and sends[40][0] >= 120


def test_retry_after_read_as_int_or_timedelta():
    assert retry_after_seconds(RetryAfter(3)) == 3
    assert retry_after_seconds(RetryAfter(timedelta(seconds=7))) == 7


async def test_replies_jump_the_broadcast_queue():
    gate, order = PriorityGate(), []
    await gate.acquire(Priority.BROADCAST)

    async def wait(name: str, prio: Priority) -> None:
        await gate.acquire(prio)
        order.append(name)
        gate.release()

    tasks = [
        asyncio.create_task(wait("b1", Priority.BROADCAST)),
        asyncio.create_task(wait("b2", Priority.BROADCAST)),
        asyncio.create_task(wait("reply", Priority.REPLY)),
    ]
    await asyncio.sleep(0)
    gate.release()
    await asyncio.gather(*tasks)
    assert order == ["reply", "b1", "b2"]


def test_command_limiter_warns_once_then_stays_quiet():
    now = [0.0]
    limiter = CommandLimiter(3, clock=lambda: now[0])
    assert [limiter.check(1) for _ in range(3)] == [Verdict.ALLOW] * 3
    assert limiter.check(1) is Verdict.DENY_NOTIFY
    assert limiter.check(1) is Verdict.DENY_SILENT
    assert limiter.check(2) is Verdict.ALLOW
    now[0] = 20.0  # one token back (3/min)
    assert limiter.check(1) is Verdict.ALLOW
    assert limiter.check(1) is Verdict.DENY_NOTIFY


# ---------------------------------------------------------------- repos


async def test_claim_takes_whole_chat_cycle_groups(sessions):
    cycle = await empty_cycle(sessions)
    now = int(time.time() * 1000)
    await add_deliveries(
        sessions,
        cycle,
        [1, 2, 3],
        [Alert("BTCUSDT"), Alert("ETHUSDT"), Alert("SOLUSDT")],
        now_ms=now,
    )
    async with sessions() as s, s.begin():
        groups = await outbox_repo.claim_due(s, now, max_groups=2, lease_ms=60_000)
    assert [(g.chat_id, len(g.delivery_ids), g.attempts) for g in groups] == [(1, 3, 1), (2, 3, 1)]
    async with sessions() as s, s.begin():
        again = await outbox_repo.claim_due(s, now, max_groups=10, lease_ms=60_000)
        assert [g.chat_id for g in again] == [3]
        assert await outbox_repo.claim_due(s, now, max_groups=10, lease_ms=60_000) == []
        assert await outbox_repo.release_claims(s, now) == 9
        reclaimed = await outbox_repo.claim_due(s, now, max_groups=10, lease_ms=60_000)
    assert [g.attempts for g in reclaimed] == [2, 2, 2]


async def test_claim_skips_rows_not_due_yet(sessions):
    cycle = await empty_cycle(sessions)
    now = int(time.time() * 1000)
    ids = await add_deliveries(sessions, cycle, [1], [Alert("BTCUSDT")], now_ms=now)
    async with sessions() as s, s.begin():
        await outbox_repo.mark_retry(s, ids, now + 5000, "TimedOut")
        assert await outbox_repo.claim_due(s, now, max_groups=5, lease_ms=1) == []
        assert await outbox_repo.next_due_ms(s) == now + 5000
        assert len(await outbox_repo.claim_due(s, now + 5000, max_groups=5, lease_ms=1)) == 1


async def test_migrate_into_an_existing_chat_merges(sessions):
    cycle = await empty_cycle(sessions)
    await add_chat(sessions, -10, min_band="lean")
    await add_chat(sessions, -100010, "supergroup")
    async with sessions() as s, s.begin():
        for chat_id, symbol in ((-10, "BTCUSDT"), (-10, "ETHUSDT"), (-100010, "BTCUSDT")):
            await chat_repo.subscribe(s, chat_id, "binance", symbol, ["bands"], 0, cap=10)
    await add_deliveries(sessions, cycle, [-10], [Alert("BTCUSDT")])
    async with sessions() as s, s.begin():
        await chat_repo.migrate_chat(s, -10, -100010)
    async with sessions() as s:
        subs = sorted((x.chat_id, x.symbol) for x in (await s.scalars(select(Subscription))))
        old = await s.get(Chat, -10)
        deliveries = (await s.scalars(select(Delivery))).all()
    assert subs == [(-100010, "BTCUSDT"), (-100010, "ETHUSDT")]
    assert old is not None and not old.active and "migrated" in (old.deactivated_reason or "")
    assert [(d.chat_id, d.status) for d in deliveries] == [(-100010, "pending")]


async def test_subscription_cap_counts_symbols(sessions):
    await add_chat(sessions, 5)
    async with sessions() as s, s.begin():
        a = await chat_repo.subscribe(s, 5, "binance", "BTCUSDT", ["bands", "squeeze"], 0, cap=2)
        b = await chat_repo.subscribe(
            s, 5, "binance", "*", ["bands"], 0, cap=2, min_band="stressed"
        )
        c = await chat_repo.subscribe(s, 5, "binance", "ETHUSDT", ["bands"], 0, cap=2)
        d = await chat_repo.subscribe(s, 5, "binance", "*", ["bands"], 0, cap=2, min_band="lean")
        subs = await chat_repo.list_subscriptions(s, 5)
    assert a.added == ["bands", "squeeze"] and b.added == ["bands"]
    assert c.over_cap and d.existing == ["bands"]
    assert [(x.symbol, x.kind, x.min_band) for x in subs] == [
        ("*", "bands", "lean"),
        ("BTCUSDT", "bands", None),
        ("BTCUSDT", "squeeze", None),
    ]


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
