"""The /symbol card through the real PTB Application carries "the last 20 times it looked
like this" once the states are loaded, and never waits for them."""

from __future__ import annotations

from bot.replay.rule_history import LoadOnce
from bot.views.lookalike import build_library
from fakes.bot_harness import BotWithWorker
from fakes.fake_telegram import FakeTelegram
from tests.telegram.test_tg_commands import ask
from tests.views.test_lookalike import HOURS, state


async def test_the_card_carries_the_line_once_loaded(runtime: BotWithWorker, fake_tg: FakeTelegram):
    calls: list[int] = []

    def load() -> object:
        calls.append(1)
        return build_library((state(i, "KASUSDT") for i in range(HOURS)), "test.csv")

    once = LoadOnce(load)
    runtime.bot.deps.lookalikes = once.peek  # type: ignore[assignment]
    reply = await ask(fake_tg, "/symbol kas")
    assert "🔁" not in reply.visible  # not loaded yet: the card does not wait
    await once()  # the load the card started
    reply = await ask(fake_tg, "/symbol kas")
    assert "🔁 the 20 past hours most like now (2020, a day apart or more): median" in (
        reply.visible
    )
    assert calls == [1]
    reply = await ask(fake_tg, "/symbol btc")  # no history for BTC: no line
    assert "🔁" not in reply.visible


async def test_peek_starts_the_load_once_and_never_waits() -> None:
    calls: list[int] = []
    once = LoadOnce(lambda: calls.append(1) or "states")
    assert once.peek() is None and once.peek() is None
    assert await once() == "states"
    assert once.peek() == "states" and calls == [1]


async def test_one_load_serves_lookalikes_and_evidence_and_none_is_kept() -> None:
    from bot.config import Settings
    from bot.replay.history_sources import history_sources

    calls: list[bool] = []

    def nothing(rows: bool) -> None:  # no data/ here: said once, not retried at every card
        calls.append(rows)

    sources = history_sources(Settings(), load=nothing)
    assert sources.lookalikes is not None and sources.lookalikes() is None
    assert await sources.builtin_evidence.get() == {}
    assert sources.lookalikes() is None
    assert calls == [False]  # the rule rows are not loaded until /rule test asks
    assert await sources.rule_history() is None and await sources.rule_history() is None
    assert calls == [False, True]
