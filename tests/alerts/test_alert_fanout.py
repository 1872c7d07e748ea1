"""Fan-out rules (bot/alerts/fanout.py): who receives what, and what gets suppressed."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.alerts.fanout import (
    FanoutRules,
    default_subscriber_wants,
    in_quiet_hours,
    local_day_start_ms,
    matches,
    plan_deliveries,
)
from bot.alerts.held import SymbolNow, apply_daily_cap, catchup_symbols, holds
from bot.alerts.types import (
    MARKET,
    STATE_SIG,
    ChatPrefs,
    DayPush,
    DeliveryKind,
    DeliveryStatus,
    Direction,
    Event,
    EventKind,
    HeldAlert,
    LastAlert,
    PlannedDelivery,
    Sub,
    SubKind,
    SuppressReason,
)
from bot.scoring.formula import Band, Bias, Regime
from bot.zones import zone
from tests.alerts.helpers import MIN, T0

N, L, S, X = Band.NEUTRAL, Band.LEAN, Band.STRETCHED, Band.STRESSED
BANDS, SQUEEZE = SubKind.BANDS, SubKind.SQUEEZE
NOON = T0 + 12 * 60 * MIN  # 12:00 UTC


def band_event(frm: Band, to: Band, symbol: str = "BTCUSDT") -> Event:
    up = to.rank > frm.rank
    return Event(
        symbol=symbol,
        kind=EventKind.BAND,
        direction=Direction.UP if up else Direction.DOWN,
        score=70 if to is X else 40,
        bias=Bias.LONG,
        regime=Regime.NET_LONG,
        from_band=frm,
        to_band=to,
    )


def squeeze_event(enter: bool = True, symbol: str = "BTCUSDT") -> Event:
    on, off = Regime.LONG_SQUEEZE, Regime.NET_LONG
    return Event(
        symbol=symbol,
        kind=EventKind.SQUEEZE,
        direction=Direction.ENTER if enter else Direction.EXIT,
        score=55,
        bias=Bias.LONG,
        regime=on if enter else off,
        from_regime=off if enter else on,
        to_regime=on if enter else off,
    )


def plan(
    event: Event,
    subs: list[Sub],
    chat: ChatPrefs | None = None,
    last: dict[tuple[int, str, str], int] | None = None,
    now_ms: int = NOON,
) -> list[PlannedDelivery]:
    chats = {1: chat or ChatPrefs(1)}
    return plan_deliveries([(7, event)], subs, chats, last or {}, now_ms, FanoutRules())


def gets(event: Event, sub: Sub, chat: ChatPrefs | None = None) -> bool:
    return bool(plan(event, [sub], chat))


# event, subscription, chat prefs, delivered?
MATCH_CASES = [
    # per-symbol bands, default threshold stretched: up into >= stretched, down out of it
    ("up into stretched", band_event(L, S), Sub(1, "BTCUSDT", BANDS), None, True),
    ("up into stressed", band_event(S, X), Sub(1, "BTCUSDT", BANDS), None, True),
    ("neutral->lean is not pushed", band_event(N, L), Sub(1, "BTCUSDT", BANDS), None, False),
    ("lean->neutral is not pushed", band_event(L, N), Sub(1, "BTCUSDT", BANDS), None, False),
    ("down from stressed", band_event(X, S), Sub(1, "BTCUSDT", BANDS), None, True),
    ("down out of stretched", band_event(S, L), Sub(1, "BTCUSDT", BANDS), None, True),
    ("other symbol", band_event(L, X, "ETHUSDT"), Sub(1, "BTCUSDT", BANDS), None, False),
    ("squeeze sub ignores bands", band_event(L, X), Sub(1, "BTCUSDT", SQUEEZE), None, False),
    # thresholds: subscription beats chat beats default
    (
        "chat lowers to lean",
        band_event(N, L),
        Sub(1, "BTCUSDT", BANDS),
        ChatPrefs(1, min_band=L),
        True,
    ),
    (
        "chat raises to stressed",
        band_event(L, S),
        Sub(1, "BTCUSDT", BANDS),
        ChatPrefs(1, min_band=X),
        False,
    ),
    (
        "sub overrides chat",
        band_event(L, S),
        Sub(1, "BTCUSDT", BANDS, X),
        ChatPrefs(1, min_band=L),
        False,
    ),
    ("sub lowers to neutral", band_event(L, N), Sub(1, "BTCUSDT", BANDS, N), None, True),
    # direction up-only
    (
        "up-only keeps up",
        band_event(L, S),
        Sub(1, "BTCUSDT", BANDS),
        ChatPrefs(1, up_only=True),
        True,
    ),
    (
        "up-only drops down",
        band_event(X, S),
        Sub(1, "BTCUSDT", BANDS),
        ChatPrefs(1, up_only=True),
        False,
    ),
    (
        "up-only drops exit",
        squeeze_event(False),
        Sub(1, "BTCUSDT", SQUEEZE),
        ChatPrefs(1, up_only=True),
        False,
    ),
    # per-symbol squeeze: entry and exit; bands subscribers do not get squeeze
    ("squeeze enter", squeeze_event(), Sub(1, "BTCUSDT", SQUEEZE), None, True),
    ("squeeze exit", squeeze_event(False), Sub(1, "BTCUSDT", SQUEEZE), None, True),
    ("bands sub ignores squeeze", squeeze_event(), Sub(1, "BTCUSDT", BANDS), None, False),
    # market-wide
    ("market: up into stressed", band_event(S, X, "ANYUSDT"), Sub(1, MARKET, BANDS), None, True),
    ("market: jump into stressed", band_event(N, X, "ANYUSDT"), Sub(1, MARKET, BANDS), None, True),
    ("market: stretched is below default", band_event(L, S), Sub(1, MARKET, BANDS), None, False),
    ("market: down never", band_event(X, S), Sub(1, MARKET, BANDS, N), None, False),
    ("market: own min band", band_event(L, S), Sub(1, MARKET, BANDS, S), None, True),
    ("market: jump across own min band", band_event(N, X), Sub(1, MARKET, BANDS, L), None, True),
    ("market: rise above own min band", band_event(S, X), Sub(1, MARKET, BANDS, S), None, False),
    (
        "market: chat min band is not used",
        band_event(L, S),
        Sub(1, MARKET, BANDS),
        ChatPrefs(1, min_band=N),
        False,
    ),
    ("market: squeeze entry", squeeze_event(symbol="ANYUSDT"), Sub(1, MARKET, SQUEEZE), None, True),
    (
        "market: squeeze exit is not pushed",
        squeeze_event(False),
        Sub(1, MARKET, SQUEEZE),
        None,
        False,
    ),
    ("market: bands ignores squeeze", squeeze_event(), Sub(1, MARKET, BANDS, N), None, False),
    # inactive chats get nothing
    (
        "inactive chat",
        band_event(L, X),
        Sub(1, "BTCUSDT", BANDS),
        ChatPrefs(1, active=False),
        False,
    ),
]


@pytest.mark.parametrize(
    ("event", "sub", "chat", "delivered"),
    [c[1:] for c in MATCH_CASES],
    ids=[c[0] for c in MATCH_CASES],
)
def test_who_gets_what(event: Event, sub: Sub, chat: ChatPrefs | None, delivered: bool) -> None:
    assert gets(event, sub, chat) is delivered


def test_symbol_and_market_subscriptions_give_one_delivery() -> None:
    subs = [Sub(1, "BTCUSDT", BANDS), Sub(1, MARKET, BANDS), Sub(1, MARKET, SQUEEZE)]
    assert plan(band_event(S, X), subs) == [PlannedDelivery(7, 1, DeliveryStatus.PENDING)]


def test_subscriptions_of_unknown_chats_are_ignored() -> None:
    assert plan_deliveries([(7, band_event(L, X))], [Sub(2, "BTCUSDT", BANDS)], {}, {}, NOON) == []


COOLDOWN_KEY = (1, "BTCUSDT", "band")


@pytest.mark.parametrize(
    ("last_ms", "chat", "status"),
    [
        (NOON - 10 * MIN, ChatPrefs(1), DeliveryStatus.SUPPRESSED),
        (NOON - 30 * MIN + 1, ChatPrefs(1), DeliveryStatus.SUPPRESSED),
        (NOON - 30 * MIN, ChatPrefs(1), DeliveryStatus.PENDING),
        (NOON - 50 * MIN, ChatPrefs(1, cooldown_minutes=60), DeliveryStatus.SUPPRESSED),
        (NOON - 1, ChatPrefs(1, cooldown_minutes=0), DeliveryStatus.PENDING),
        (None, ChatPrefs(1), DeliveryStatus.PENDING),
    ],
)
def test_cooldown(last_ms: int | None, chat: ChatPrefs, status: DeliveryStatus) -> None:
    last = {} if last_ms is None else {COOLDOWN_KEY: last_ms}
    [row] = plan(band_event(L, X), [Sub(1, "BTCUSDT", BANDS)], chat, last)
    assert row.status is status
    assert row.reason is (SuppressReason.COOLDOWN if status is DeliveryStatus.SUPPRESSED else None)


def test_cooldown_is_per_symbol_and_kind() -> None:
    subs = [Sub(1, "BTCUSDT", BANDS), Sub(1, "BTCUSDT", SQUEEZE), Sub(1, "ETHUSDT", BANDS)]
    last = {COOLDOWN_KEY: NOON - MIN}
    assert plan(squeeze_event(), subs, last=last)[0].status is DeliveryStatus.PENDING
    assert plan(band_event(L, X, "ETHUSDT"), subs, last=last)[0].status is DeliveryStatus.PENDING
    assert plan(band_event(L, X), subs, last=last)[0].status is DeliveryStatus.SUPPRESSED


def hhmm(h: int, m: int = 0) -> int:
    return T0 + (h * 60 + m) * MIN


@pytest.mark.parametrize(
    ("start", "end", "now_ms", "quiet"),
    [
        (9 * 60, 17 * 60, hhmm(12), True),
        (9 * 60, 17 * 60, hhmm(9), True),  # start is inclusive
        (9 * 60, 17 * 60, hhmm(17), False),  # end is exclusive
        (9 * 60, 17 * 60, hhmm(8, 59), False),
        (22 * 60, 6 * 60, hhmm(23, 30), True),  # wraps past midnight
        (22 * 60, 6 * 60, hhmm(0), True),
        (22 * 60, 6 * 60, hhmm(3), True),
        (22 * 60, 6 * 60, hhmm(5, 59), True),
        (22 * 60, 6 * 60, hhmm(6), False),
        (22 * 60, 6 * 60, hhmm(12), False),
        (22 * 60, 6 * 60, hhmm(21, 59), False),
        (22 * 60, 6 * 60, hhmm(23) + 86_400_000 * 3, True),  # any day
        (8 * 60, 8 * 60, hhmm(8), False),  # empty window: off
        (None, 6 * 60, hhmm(3), False),
    ],
)
def test_quiet_hours(start: int | None, end: int | None, now_ms: int, quiet: bool) -> None:
    assert in_quiet_hours(now_ms, start, end) is quiet
    chat = ChatPrefs(1, quiet_start_min=start, quiet_end_min=end)
    [row] = plan(band_event(L, X), [Sub(1, "BTCUSDT", BANDS)], chat, now_ms=now_ms)
    expected = (
        (DeliveryStatus.SUPPRESSED, SuppressReason.QUIET_HOURS)
        if quiet
        else (
            DeliveryStatus.PENDING,
            None,
        )
    )
    assert (row.status, row.reason) == expected


def test_mute() -> None:
    sub = [Sub(1, "BTCUSDT", BANDS)]
    muted = ChatPrefs(1, muted_until_ms=NOON + MIN)
    [row] = plan(band_event(L, X), sub, muted)
    assert (row.status, row.reason) == (DeliveryStatus.SUPPRESSED, SuppressReason.MUTED)
    [row] = plan(band_event(L, X), sub, muted._replace(muted_until_ms=NOON))
    assert row.status is DeliveryStatus.PENDING
    # Mute is the reason recorded even when quiet hours and cooldown also apply.
    everything = muted._replace(quiet_start_min=0, quiet_end_min=23 * 60)
    [row] = plan(band_event(L, X), sub, everything, {COOLDOWN_KEY: NOON - MIN})
    assert row.reason is SuppressReason.MUTED


# ----------------------------------------------------------------------------- reversal


def squeeze_to(regime: Regime, symbol: str = "BTCUSDT") -> Event:
    return replace(squeeze_event(True, symbol), to_regime=regime, regime=regime)


@pytest.mark.parametrize(
    ("last_sig", "event", "status"),
    [
        ("up", band_event(S, X), DeliveryStatus.SUPPRESSED),  # a repeat
        ("up", band_event(X, S), DeliveryStatus.PENDING),  # down after up
        ("down", band_event(S, X), DeliveryStatus.PENDING),  # up after down
        ("down", band_event(X, S), DeliveryStatus.SUPPRESSED),
        ("enter:Long squeeze risk", squeeze_event(False), DeliveryStatus.PENDING),  # over
        ("exit", squeeze_event(True), DeliveryStatus.PENDING),  # re-entry after exit
        ("exit", squeeze_event(False), DeliveryStatus.SUPPRESSED),
        ("enter:Long squeeze risk", squeeze_event(True), DeliveryStatus.SUPPRESSED),
        # Long -> Short squeeze contradicts "entered Long squeeze": not a repeat.
        ("enter:Long squeeze risk", squeeze_to(Regime.SHORT_SQUEEZE), DeliveryStatus.PENDING),
        (STATE_SIG, band_event(S, X), DeliveryStatus.PENDING),  # first news after a catch-up
    ],
)
def test_cooldown_holds_repeats_never_reversals(
    last_sig: str, event: Event, status: DeliveryStatus
) -> None:
    subs = [Sub(1, "BTCUSDT", BANDS), Sub(1, "BTCUSDT", SQUEEZE)]
    key = (1, "BTCUSDT", event.kind.value)
    [row] = plan(event, subs, last={key: LastAlert(NOON - MIN, last_sig)})  # type: ignore[dict-item]
    assert row.status is status


# ----------------------------------------------------------------------------- time zones

BERLIN = zone("Europe/Berlin")  # T0 is in January: UTC+1


@pytest.mark.parametrize(
    ("now_ms", "quiet"),
    [
        (hhmm(21, 30), True),  # 22:30 in Berlin, 21:30 UTC: quiet in Berlin only
        (hhmm(6, 30), False),  # 07:30 in Berlin: quiet is over there, not yet in UTC
        (hhmm(5, 59), True),  # 06:59 in Berlin
        (hhmm(20, 59), False),  # 21:59 in Berlin
    ],
)
def test_quiet_hours_are_in_the_chats_time_zone(now_ms: int, quiet: bool) -> None:
    chat = ChatPrefs(1, quiet_start_min=22 * 60, quiet_end_min=7 * 60, tz=BERLIN)
    [row] = plan(band_event(L, X), [Sub(1, "BTCUSDT", BANDS)], chat, now_ms=now_ms)
    assert (row.reason is SuppressReason.QUIET_HOURS) is quiet
    assert in_quiet_hours(now_ms, 22 * 60, 7 * 60, BERLIN) is quiet


def test_local_day_start_follows_dst() -> None:
    summer = T0 + 180 * 24 * 60 * MIN + 12 * 60 * MIN  # 2026-06-30 12:00 UTC
    assert local_day_start_ms(summer, BERLIN) == summer - 14 * 60 * MIN  # 00:00 CEST
    assert local_day_start_ms(NOON, BERLIN) == NOON - 13 * 60 * MIN  # 00:00 CET
    assert local_day_start_ms(NOON) == T0


# ----------------------------------------------------------------------------- daily cap


def capped(pushes: list[DayPush], chat: ChatPrefs, now_ms: int = NOON) -> list[PlannedDelivery]:
    planned = [
        PlannedDelivery(7, chat.chat_id, DeliveryStatus.PENDING),
        PlannedDelivery(8, chat.chat_id, DeliveryStatus.PENDING),
        PlannedDelivery(9, chat.chat_id, DeliveryStatus.SUPPRESSED, SuppressReason.COOLDOWN),
    ]
    return apply_daily_cap(planned, {chat.chat_id: chat}, {chat.chat_id: pushes}, now_ms)


def test_daily_cap_note_then_held() -> None:
    chat = ChatPrefs(1, daily_cap=2)
    two = [DayPush(NOON - 60 * MIN, False), DayPush(NOON - 30 * MIN, False)]
    assert [(p.status, p.kind) for p in capped(two[:1], chat)][:2] == [
        (DeliveryStatus.PENDING, DeliveryKind.ALERT)
    ] * 2
    # The first cycle past the cap becomes the note (one message), held for the catch-up.
    note = capped(two, chat)
    assert [(p.status, p.kind) for p in note] == [
        (DeliveryStatus.PENDING, DeliveryKind.CAP_NOTE),
        (DeliveryStatus.PENDING, DeliveryKind.CAP_NOTE),
        (DeliveryStatus.SUPPRESSED, DeliveryKind.ALERT),
    ]
    assert holds(note) == {1}
    # After the note, the rest of the day is held without a message.
    after = capped([*two, DayPush(NOON - MIN, True)], chat)
    assert [(p.status, p.reason) for p in after][:2] == [
        (DeliveryStatus.SUPPRESSED, SuppressReason.DAILY_CAP)
    ] * 2
    # 0 turns the cap off; the default comes from FanoutRules (20).
    assert capped([*two, DayPush(NOON - MIN, True)], chat._replace(daily_cap=0))[0].kind is (
        DeliveryKind.ALERT
    )
    assert capped(two, ChatPrefs(1))[0].kind is DeliveryKind.ALERT


def test_daily_cap_counts_the_chats_local_day() -> None:
    # Pushed at 23:30 and 23:40 UTC on Dec 31: yesterday for a UTC chat, but already
    # Jan 1 (00:30, 00:40) in Berlin, so they count towards a Berlin chat's day.
    late = [DayPush(T0 - 30 * MIN, False), DayPush(T0 - 20 * MIN, False)]
    assert capped(late, ChatPrefs(1, daily_cap=2))[0].kind is DeliveryKind.ALERT
    assert capped(late, ChatPrefs(1, daily_cap=2, tz=BERLIN))[0].kind is DeliveryKind.CAP_NOTE


# ----------------------------------------------------------------------------- catch-up


def test_catch_up_lists_symbols_whose_state_changed() -> None:
    held = [
        HeldAlert("BTCUSDT", "band", "lean", None),  # lean -> stressed, still stressed
        HeldAlert("ETHUSDT", "band", "stretched", None),  # up and back down: no news
        HeldAlert("ETHUSDT", "band", "stressed", None),
        HeldAlert("SOLUSDT", "squeeze", None, "Net long bias building"),  # squeeze began
        HeldAlert("XRPUSDT", "squeeze", None, "Net long bias building"),  # began and ended
        HeldAlert("XRPUSDT", "squeeze", None, "Long squeeze risk"),
        HeldAlert("ADAUSDT", "state", None, None),  # a catch-up that was itself held
    ]
    now = {
        "BTCUSDT": SymbolNow("stressed", "Net long bias building"),
        "ETHUSDT": SymbolNow("stretched", "Net long bias building"),
        "SOLUSDT": SymbolNow("stretched", "Long squeeze risk"),
        "XRPUSDT": SymbolNow("lean", "Neutral"),
        "ADAUSDT": SymbolNow("lean", "Neutral"),
    }
    assert catchup_symbols(held, now) == ["ADAUSDT", "BTCUSDT", "SOLUSDT"]
    assert catchup_symbols([], now) == []


def test_default_subscriber() -> None:
    rules = FanoutRules()
    assert default_subscriber_wants(band_event(L, S), rules)
    assert default_subscriber_wants(band_event(X, S), rules)
    assert not default_subscriber_wants(band_event(N, L), rules)
    assert default_subscriber_wants(squeeze_event(), rules)
    assert default_subscriber_wants(squeeze_event(False), rules)


# ----------------------------------------------------------------------------- properties

SYMBOLS = ["AUSDT", "BUSDT", "CUSDT"]
band_events = st.builds(
    band_event, st.sampled_from(list(Band)), st.sampled_from(list(Band)), st.sampled_from(SYMBOLS)
).filter(lambda e: e.from_band != e.to_band)
any_events = st.one_of(
    band_events, st.builds(squeeze_event, st.booleans(), st.sampled_from(SYMBOLS))
)
subs_st = st.builds(
    Sub,
    st.integers(1, 6),
    st.sampled_from([*SYMBOLS, MARKET]),
    st.sampled_from(list(SubKind)),
    st.none() | st.sampled_from(list(Band)),
)
chats_st = st.builds(
    ChatPrefs,
    st.integers(1, 6),
    st.booleans(),
    st.none() | st.sampled_from(list(Band)),
    st.booleans(),
    st.none() | st.integers(0, 120),
    st.none() | st.integers(0, 1439),
    st.none() | st.integers(0, 1439),
    st.none() | st.integers(NOON - 60 * MIN, NOON + 60 * MIN),
)


@given(
    events=st.lists(any_events, max_size=6),
    subs=st.lists(subs_st, max_size=20),
    chats=st.lists(chats_st, max_size=6),
)
def test_fanout_invariants(events: list[Event], subs: list[Sub], chats: list[ChatPrefs]) -> None:
    prefs = {c.chat_id: c for c in chats}
    numbered = list(enumerate(events, start=1))
    rows = plan_deliveries(numbered, subs, prefs, {}, NOON)
    keys = [(r.event_id, r.chat_id) for r in rows]
    assert len(keys) == len(set(keys))  # one delivery per (event, chat)...
    expected = {
        (event_id, s.chat_id)
        for event_id, event in numbered
        for s in subs
        if s.chat_id in prefs
        and prefs[s.chat_id].active
        and matches(event, s, prefs[s.chat_id], FanoutRules())
    }
    assert set(keys) == expected  # ...exactly for the active chats that asked for it
    for r in rows:
        assert (r.status is DeliveryStatus.SUPPRESSED) == (r.reason is not None)
