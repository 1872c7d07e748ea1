"""Cascades in Telegram: subscribing (`/subscribe KAS liquidations`, `/market
liquidations`), the card's squeeze phase line, and the push's words, through the real
PTB application and the fake Bot API where a chat is involved."""

from __future__ import annotations

import json
import re
import time
from dataclasses import replace

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.alerts.types import CascadeSide, CascadeState
from bot.liquidations.windows import LiqFigures, LiqWindow
from bot.scoring.formula import Regime
from bot.storage import cascade_repo
from bot.storage.outbox_repo import AlertItem
from bot.telegram.render.alerts import alert_message
from bot.telegram.render.cascade import phase_line
from fakes.bot_harness import BotWithWorker
from fakes.fake_telegram import FakeTelegram
from tests.telegram.helpers import EXCHANGE
from tests.telegram.test_tg_commands import ask

# Words that would say what price does next: a cascade push describes the last minutes.
FORECAST = re.compile(r"\b(will|expect|likely|bounce|reversal|bottom|top is in|buy|sell)\b", re.I)


async def test_subscribe_to_a_symbols_cascades_and_to_the_markets(
    runtime: BotWithWorker, fake_tg: FakeTelegram
) -> None:
    reply = (await ask(fake_tg, "/subscribe kas liquidations")).visible
    assert "KASUSDT" in reply and "cascades" in reply
    listed = (await ask(fake_tg, "/subscriptions")).visible
    assert re.search(r"Cascades \(1\): KAS", listed), listed
    market = await ask(fake_tg, "/market liquidations")
    assert "any liquidation cascade" in market.visible
    buttons = [b["text"] for row in market.reply_markup["inline_keyboard"] for b in row]
    assert "✓ Liquidations" in buttons
    both = (await ask(fake_tg, "/subscribe kas squeeze")).visible
    assert "OI building against funding" in both
    listed = (await ask(fake_tg, "/subscriptions")).visible
    assert "Cascades and OI building against funding (1): KAS" in listed, listed


async def test_the_card_says_a_squeeze_is_under_way_then_flushed(
    runtime: BotWithWorker, fake_tg: FakeTelegram, sessions: async_sessionmaker[AsyncSession]
) -> None:
    now = int(time.time() * 1000)
    on = CascadeState(
        side=CascadeSide.LONG,
        since_ms=now - 10 * 60_000,
        window_start_ms=now - 25 * 60_000,
        forced_usd=3_200_000.0,
        squeeze=Regime.LONG_SQUEEZE,
        last_cycle_id=1,
    )
    async with sessions() as s, s.begin():
        await cascade_repo.save(s, EXCHANGE, {"KASUSDT": on})
    card = (await ask(fake_tg, "/symbol kas")).visible
    assert "Long squeeze under way: longs liquidated $3.20M since" in card
    flushed = CascadeState(flushed=Regime.LONG_SQUEEZE, flushed_left=3, flushed_oi_pct=1.25)
    async with sessions() as s, s.begin():
        await cascade_repo.save(s, EXCHANGE, {"KASUSDT": flushed})
        assert await cascade_repo.one(s, EXCHANGE, "KASUSDT") == flushed
    card = (await ask(fake_tg, "/symbol kas")).visible
    assert "Long squeeze flushed: 1.25% of OI forced out" in card
    async with sessions() as s, s.begin():  # quiet again: the row goes, the line too
        await cascade_repo.save(s, EXCHANGE, {"KASUSDT": replace(flushed, flushed_left=0)})
        assert await cascade_repo.one(s, EXCHANGE, "KASUSDT") is None
    card = (await ask(fake_tg, "/symbol kas")).visible
    assert "squeeze flushed" not in card and "under way" not in card


def test_a_cascade_the_stream_cannot_see_now_is_said_as_last_seen() -> None:
    state = CascadeState(side=CascadeSide.SHORT, since_ms=1_765_000_000_000, forced_usd=4e5)
    seen = LiqFigures({w: LiqWindow(0.0, 0.0, 1.0) for w in ("5m", "1h", "24h")}, None, {})
    blind = LiqFigures({w: LiqWindow(0.0, 0.0, 0.3) for w in ("5m", "1h", "24h")}, None, {})
    assert phase_line(state, seen) == "🌊 Cascade: shorts liquidated $400k since 05:46 UTC"
    assert phase_line(state, blind) == (
        "🌊 Cascade: shorts liquidated $400k since 05:46 UTC"
        " (as last seen: the stream was live 30% of the last 5 min)"
    )
    assert phase_line(None, blind) is None


def _item(
    direction: str, squeeze: str | None, detail: dict[str, object], **kw: object
) -> AlertItem:
    values: dict[str, object] = {
        "delivery_id": 1,
        "event_id": 1,
        "exchange": "bybit",
        "symbol": "BTCUSDT",
        "kind": "liquidations",
        "direction": direction,
        "from_band": None,
        "to_band": None,
        "from_regime": squeeze if direction == "exit" else None,
        "to_regime": squeeze if direction == "enter" else None,
        "score": 48,
        "bias": "LONG",
        "regime": squeeze or "Neutral",
        "oi_24h_pct": None,
        "funding_8h_pct": None,
        "basis_pct": None,
        "side": "long",
        "detail": json.dumps(detail),
    }
    values.update(kw)
    return AlertItem(**values)  # type: ignore[arg-type]


def test_the_push_says_side_usd_share_of_oi_x_normal_and_partial_coverage() -> None:
    enter = {"usd": 12.3e6, "oi_pct": 0.42, "x_normal": 8.1, "coverage": 0.93, "minutes": 15}
    text = alert_message([_item("enter", "Long squeeze risk", enter)])
    print("\n--- cascade push ---\n" + text)
    assert "BTCUSDT</b> cascade: <b>longs</b> liquidated <b>$12.30M</b> in the last 15 min" in text
    assert "<b>0.42%</b> of OI · <b>8.1×</b> normal" in text
    assert "Long squeeze under way</b>: the crowded side (longs) is forced out" in text
    assert "stream live 93% of the window: partial" in text
    assert "not a forecast" in text
    assert not FORECAST.search(re.sub(r"<[^>]+>", "", text))

    full = alert_message([_item("enter", None, {**enter, "coverage": 1.0, "x_normal": None})])
    assert "partial" not in full and "under way" not in full
    assert "normally next to none" in full  # a normal of zero: no multiple to show

    exit_ = {"forced_usd": 30e6, "forced_oi_pct": 1.1, "since_ms": 1_765_000_000_000}
    text = alert_message([_item("exit", "Long squeeze risk", {**exit_, "coverage": 1.0})])
    print(text)
    assert "long cascade subsided: $30.00M of longs (1.10% of OI) forced out since" in text
    assert "Long squeeze flushed</b>: 1.10% of OI forced out" in text
    assert not FORECAST.search(re.sub(r"<[^>]+>", "", text))


def test_a_long_digest_gives_a_cascade_one_line() -> None:
    enter = {"usd": 2e6, "oi_pct": 0.5, "x_normal": 6.0, "coverage": 1.0, "minutes": 15}
    items = [_item("enter", None, enter, symbol=f"S{i}USDT", delivery_id=i) for i in range(10)]
    text = alert_message(items)
    assert text.count("longs liquidated $2.00M · <b>0.50%</b> of OI · <b>6.0×</b> normal") == 10


async def test_subscribe_all_names_the_three_kinds(
    runtime: BotWithWorker, fake_tg: FakeTelegram
) -> None:
    reply = (await ask(fake_tg, "/subscribe kas all")).visible
    assert "band changes, cascades and OI building against funding" in reply, reply
