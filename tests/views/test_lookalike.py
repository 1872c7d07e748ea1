""" "The last N times this symbol looked like this" (bot/views/lookalike.py) against a
case computed by hand, and its words on the card and in pushes."""

from __future__ import annotations

from types import SimpleNamespace

from bot.scoring.explain import lookalike_sentence
from bot.telegram.render.alerts import alert_message
from bot.telegram.render.market import symbol_card
from bot.views.lookalike import (
    HOUR_MS,
    MIN_STATES,
    HourState,
    PushLookalikes,
    build_library,
    lookalike_for,
    nearest,
)

T0 = 1_600_000_000_000 - 1_600_000_000_000 % HOUR_MS  # 2020-09-13, a whole hour
HOURS = 800


def state(i: int, symbol: str = "SOLUSDT") -> HourState:
    # Hour i has every input equal to i, so its rank in each is (2i + 1) / 1600; its
    # 24h move is (i mod 7) - 3 and its largest excursion i mod 10.
    v = float(i)
    return HourState(symbol, T0 + i * HOUR_MS, v, v, v, v, v, float(i % 7 - 3), float(i % 10))


LIBRARY = build_library((state(i) for i in range(HOURS)), source="test.csv")


def test_the_nearest_states_by_hand() -> None:
    states = LIBRARY.find("SOLUSDT")
    assert states is not None
    # Now: every input 400.2, ranked 401/800 = 0.50125 in each, exactly between hours
    # 400 (0.500625) and 401 (0.501875). Nearest first: 400; 401 and 399 are within a
    # day of it; then 424 (47/1600 away in each input), then 376 or 425 (both 49/1600;
    # 425 is within a day of 424): {400, 424, 376}.
    now = dict.fromkeys(("oi_1h", "oi_4h", "oi_24h", "funding_premium", "basis"), 400.2)
    found = nearest(states, now, n=3, source="test.csv")
    assert found is not None
    # |moves|: 376 -> |5-3| = 2, 400 -> |1-3| = 2, 424 -> |4-3| = 1: median 2.
    assert found.median_abs_24h == 2.0
    # Excursions 6, 0, 4: one of three moved >= 5%; of all 800 hours, half did.
    assert (found.n, found.big, found.usual_big) == (3, 1, 0.5)
    assert (found.hours, found.first_ms, found.last_ms) == (HOURS, T0, T0 + 799 * HOUR_MS)
    assert lookalike_sentence(found) == (
        "the 3 past hours most like now (2020, a day apart or more): median |24h| move "
        "2.0%; 1 of 3 moved ≥5% within 24h (usually 50%)"
    )


def test_an_unknown_input_is_left_out_and_nothing_known_is_no_line() -> None:
    states = LIBRARY.find("SOL")  # the aggregate's coin name finds the venue's symbol
    assert states is not None
    only_basis = {"basis": 400.2, "oi_1h": None, "oi_4h": float("nan")}
    found = nearest(states, only_basis, n=3)
    assert found is not None and found.median_abs_24h == 2.0
    assert nearest(states, {"basis": None}, n=3) is None
    # 33 days of hours hold only 34 moments a day apart: 40 neighbours cannot be found.
    assert nearest(states, only_basis, n=40) is None


def test_too_little_history_gives_no_line() -> None:
    short = build_library((state(i, "NEWUSDT") for i in range(MIN_STATES - 1)), "x")
    assert short.find("NEWUSDT") is None
    # Hours with a missing input or move do not count towards it.
    gappy = [state(i, "GAPUSDT") for i in range(MIN_STATES + 10)]
    gappy[:20] = [HourState("GAPUSDT", T0 + i * HOUR_MS, 1, None, 1, 1, 1, 1, 1) for i in range(20)]
    assert build_library(gappy, "x").find("GAPUSDT") is None


def row(**kw: object) -> SimpleNamespace:
    base: dict[str, object] = dict(
        symbol="SOLUSDT", score=40, band="stretched", bias="LONG", regime="Net long bias building",
        funding_interval_hours=8, oi_1h_pct=400.2, oi_4h_pct=400.2, oi_24h_pct=400.2,
        funding_pct=400.21, funding_8h_pct=400.21, basis_pct=400.2, mark_price=100.0,
        index_price=100.0, oi_build=0.2, funding_st=0.2, basis_st=0.1, ts_ms=0,
    )  # fmt: skip
    return SimpleNamespace(**(base | kw))


def test_a_card_and_a_push_carry_the_line() -> None:
    # The premium is funding per 8h over the base (0.01): 400.21 -> 400.2, as by hand.
    found = lookalike_for(LIBRARY, "SOLUSDT", row(), funding_base_8h=0.01)
    assert found is not None and found.n == 20
    line = "🔁 " + lookalike_sentence(found)
    assert line in symbol_card(row(), 0, lookalike=found)
    assert lookalike_for(LIBRARY, "BTCUSDT", row(), 0.01) is None  # no history for it
    assert lookalike_for(None, "SOLUSDT", row(), 0.01) is None  # not loaded yet

    push = row(
        event_id=7, kind="band", direction="up", from_band="lean", to_band="stretched",
        from_regime=None, to_regime=None, event_ms=0,
    )  # fmt: skip
    calls: list[int] = []

    def library() -> object:
        calls.append(1)
        return LIBRARY

    looks = PushLookalikes(library, funding_base_8h=0.01)  # type: ignore[arg-type]
    by_event = looks([push, push])
    assert by_event == {7: found}
    assert line.replace("🔁 ", "") in alert_message([push], lookalikes=by_event)
    assert looks([push]) == {7: found} and len(calls) == 2  # computed once per event


def test_pushes_go_without_the_line_until_loaded() -> None:
    looks = PushLookalikes(lambda: None, funding_base_8h=0.01)
    assert looks([row(event_id=1)]) == {}
