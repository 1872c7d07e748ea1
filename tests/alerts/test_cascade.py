"""Liquidation cascades (bot/alerts/cascade.py): thresholds, coverage, hysteresis, the
squeeze they resolve, replay, and the fan-out of their events."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from bot.alerts.cascade import CascadeReading, CascadeRules, decode_detail, run_cycle, step
from bot.alerts.fanout import FanoutRules, plan_deliveries
from bot.alerts.types import (
    MARKET,
    CascadeSide,
    CascadeState,
    ChatPrefs,
    DeliveryStatus,
    Direction,
    Event,
    EventKind,
    LastAlert,
    SqueezePhase,
    Sub,
    SubKind,
    transition_sig,
)
from bot.scoring.formula import Bias, Regime

RULES = CascadeRules()  # 0.3% of OI and 5x normal over 15 min; exit under half, 2 cycles
OI = 1_000_000_000.0  # $1B: 0.3% is $3M
NORMAL = 100_000.0  # $100k per 15 min: 5x is $500k
T0 = 1_700_000_000_000
MIN = 60_000


def reading(long_usd: float = 0.0, short_usd: float = 0.0, **kw: float | None) -> CascadeReading:
    values: dict[str, float | None] = {"oi_usd": OI, "normal_usd": NORMAL, "coverage": 1.0}
    values.update(kw)
    return CascadeReading(long_usd, short_usd, **values)  # type: ignore[arg-type]


def feed(
    readings: list[CascadeReading], regime: Regime = Regime.NEUTRAL
) -> tuple[CascadeState | None, list[list[Event]]]:
    state: CascadeState | None = None
    out: list[list[Event]] = []
    for i, r in enumerate(readings, start=1):
        state, event = step(
            state,
            "BTCUSDT",
            r,
            regime=regime,
            score=50,
            bias=Bias.LONG,
            cycle_id=i,
            now_ms=T0 + 5 * i * MIN,
            rules=RULES,
        )
        out.append([event] if event else [])
    return state, out


def kinds(events: list[list[Event]]) -> list[str]:
    return [",".join(f"{e.direction}:{e.side}" for e in cycle) for cycle in events]


def test_one_side_over_both_thresholds_enters_once_and_stays_on() -> None:
    state, events = feed([reading(), reading(4e6), reading(6e6), reading(5e6)])
    assert kinds(events) == ["", "enter:long", "", ""]
    [enter] = events[1]
    assert enter.kind is EventKind.LIQUIDATIONS and enter.to_regime is None
    detail = decode_detail(enter.detail)
    assert detail["usd"] == 4e6 and detail["oi_pct"] == 0.4 and detail["x_normal"] == 40.0
    assert state is not None and state.side is CascadeSide.LONG and state.forced_usd == 6e6


def test_either_threshold_alone_is_not_a_cascade() -> None:
    big_but_normal = reading(4e6, normal_usd=1e6)  # 0.4% of OI but 4x normal
    unusual_but_small = reading(2e6)  # 20x normal but 0.2% of OI
    both_sides_split = reading(2e6, 2e6)  # together 0.4%, each side 0.2%
    _, events = feed([big_but_normal, unusual_but_small, both_sides_split])
    assert kinds(events) == ["", "", ""]


def test_no_entry_from_a_window_under_90_percent_covered() -> None:
    _, events = feed([reading(9e6, coverage=0.89), reading(9e6, coverage=0.9)])
    assert kinds(events) == ["", "enter:long"]


def test_no_entry_without_a_normal_or_an_oi() -> None:
    _, events = feed([reading(9e6, normal_usd=None), reading(9e6, oi_usd=None)])
    assert kinds(events) == ["", ""]


def test_a_normal_of_zero_counts_any_liquidation_as_above_normal() -> None:
    r = reading(4e6, normal_usd=0.0)
    assert math.isinf(r.x_normal(CascadeSide.LONG) or 0.0)
    _, events = feed([r])
    [[enter]] = events
    assert decode_detail(enter.detail)["x_normal"] is None  # JSON has no infinity


def test_exit_needs_confirm_cycles_under_half_the_thresholds() -> None:
    # 2.0M is under 0.3% but over half of it: still on. 1M is under half: two in a row.
    seq = [reading(4e6), reading(2e6), reading(1e6), reading(2e6), reading(1e6), reading(1e6)]
    state, events = feed(seq)
    assert kinds(events) == ["enter:long", "", "", "", "", "exit:long"]
    assert state is not None and state.quiet()


def test_a_gap_while_on_neither_ends_nor_extends_the_calm_streak() -> None:
    seq = [reading(4e6), reading(0.0), reading(0.0, coverage=0.2), reading(0.0)]
    _, events = feed(seq)
    assert kinds(events) == ["enter:long", "", "", "exit:long"]


def test_the_other_side_qualifying_is_a_switch() -> None:
    _, events = feed([reading(4e6), reading(4e6, 9e6)])
    assert kinds(events) == ["enter:long", "enter:short"]
    assert decode_detail(events[1][0].detail)["switched_from"] == "long"
    sigs = {transition_sig(e.kind, e.direction, e.to_regime, e.side) for [e] in events}
    assert sigs == {"enter:long", "enter:short"}  # a switch is no repeat for the cooldown


def test_crowded_side_liquidated_in_squeeze_risk_is_under_way_then_flushed() -> None:
    seq = [reading(4e6), reading(8e6, run_usd=12e6), reading(0.0), reading(0.0), reading(0.0)]
    state, events = feed(seq, regime=Regime.LONG_SQUEEZE)
    assert kinds(events) == ["enter:long", "", "", "exit:long", ""]
    enter, exit_ = events[0][0], events[3][0]
    assert enter.to_regime is Regime.LONG_SQUEEZE
    assert exit_.from_regime is Regime.LONG_SQUEEZE
    detail = decode_detail(exit_.detail)
    assert detail["forced_usd"] == 12e6 and detail["forced_oi_pct"] == 1.2
    assert state is not None and state.phase() is SqueezePhase.FLUSHED
    assert state.flushed_left == RULES.flushed_cycles - 1 and state.flushed_oi_pct == 1.2


def test_the_uncrowded_side_liquidated_resolves_no_squeeze() -> None:
    state, events = feed([reading(0.0, 4e6)], regime=Regime.LONG_SQUEEZE)
    assert events[0][0].to_regime is None
    assert state is not None and state.phase() is None


def test_flushed_is_shown_for_n_cycles_then_the_state_is_quiet() -> None:
    seq = [reading(4e6), reading(0.0), reading(0.0)] + [reading(0.0)] * RULES.flushed_cycles
    state, _ = feed(seq, regime=Regime.LONG_SQUEEZE)
    assert state is not None and state.phase() is None and state.quiet()


def test_a_replayed_cycle_changes_nothing() -> None:
    first, event = step(
        None, "X", reading(4e6), regime=Regime.NEUTRAL, score=1, bias=Bias.LONG, cycle_id=7,
        now_ms=T0, rules=RULES,
    )  # fmt: skip
    again, repeat = step(
        first, "X", reading(9e6, 9e6), regime=Regime.NEUTRAL, score=1, bias=Bias.LONG,
        cycle_id=7, now_ms=T0, rules=RULES,
    )  # fmt: skip
    assert event is not None and repeat is None and again is first


def test_run_cycle_keeps_rows_only_for_symbols_with_something_to_remember() -> None:
    inputs = [
        ("A", reading(4e6), Regime.NEUTRAL, 1, Bias.LONG),
        ("B", reading(), Regime.NEUTRAL, 1, Bias.LONG),
    ]
    out = run_cycle({}, inputs, cycle_id=1, now_ms=T0)  # type: ignore[arg-type]
    assert set(out.states) == {"A"} and len(out.events) == 1
    calm = [("A", reading(), Regime.NEUTRAL, 1, Bias.LONG)] * 1
    out2 = run_cycle(out.states, calm, cycle_id=2, now_ms=T0 + MIN)  # type: ignore[arg-type]
    out3 = run_cycle(
        {**out.states, **out2.states},
        calm,  # type: ignore[arg-type]
        cycle_id=3,
        now_ms=T0 + 2 * MIN,
    )
    assert out3.states["A"].quiet()  # handed back quiet: its row goes


@given(
    st.lists(
        st.tuples(st.floats(0, 2e7), st.floats(0, 2e7), st.sampled_from([1.0, 0.95, 0.5, 0.0])),
        max_size=40,
    )
)
def test_entries_and_exits_alternate_per_side_and_never_come_from_a_gap(
    seq: list[tuple[float, float, float]],
) -> None:
    readings = [reading(lo, sh, coverage=cov) for lo, sh, cov in seq]
    _, events = feed(readings, regime=Regime.LONG_SQUEEZE)
    on: str | None = None
    for r, cycle in zip(readings, events, strict=True):
        assert len(cycle) <= 1
        for e in cycle:
            assert r.coverage >= RULES.min_coverage  # nothing moves on a gap
            if e.direction is Direction.ENTER:
                assert e.side != on
                side = CascadeSide(e.side)
                assert r.oi_pct(side) >= RULES.oi_pct and (r.x_normal(side) or 0) >= 5
                on = e.side
            else:
                assert e.side == on
                on = None


# ---------------------------------------------------------------- fan-out


def _event(direction: Direction = Direction.ENTER, squeeze: Regime | None = None) -> Event:
    return Event(
        "BTCUSDT",
        EventKind.LIQUIDATIONS,
        direction,
        50,
        Bias.LONG,
        Regime.NEUTRAL,
        to_regime=squeeze if direction is Direction.ENTER else None,
        from_regime=squeeze if direction is Direction.EXIT else None,
        side="long",
    )


def _plan(event: Event, subs: list[Sub], last: dict | None = None) -> dict[int, DeliveryStatus]:  # type: ignore[type-arg]
    chats = {s.chat_id: ChatPrefs(s.chat_id) for s in subs}
    planned = plan_deliveries([(1, event)], subs, chats, last or {}, T0, FanoutRules())
    assert len(planned) == len({p.chat_id for p in planned})  # one row per chat
    return {p.chat_id: p.status for p in planned}


def test_cascade_fan_out_per_symbol_and_market_wide() -> None:
    subs = [
        Sub(1, "BTCUSDT", SubKind.LIQUIDATIONS),
        Sub(2, MARKET, SubKind.LIQUIDATIONS),
        Sub(3, "BTCUSDT", SubKind.LIQUIDATIONS),
        Sub(3, MARKET, SubKind.LIQUIDATIONS),
        Sub(4, "BTCUSDT", SubKind.BANDS),
        Sub(5, "BTCUSDT", SubKind.SQUEEZE),
    ]
    assert _plan(_event(), subs) == dict.fromkeys((1, 2, 3), DeliveryStatus.PENDING)
    # Exits reach per-symbol subscribers only, as for squeezes.
    assert set(_plan(_event(Direction.EXIT), subs)) == {1, 3}


def test_a_cascade_resolving_a_squeeze_reaches_its_squeeze_subscribers_too() -> None:
    subs = [Sub(1, "BTCUSDT", SubKind.LIQUIDATIONS), Sub(1, "BTCUSDT", SubKind.SQUEEZE)]
    subs += [Sub(5, "BTCUSDT", SubKind.SQUEEZE)]
    assert set(_plan(_event(squeeze=Regime.LONG_SQUEEZE), subs)) == {1, 5}
    assert set(_plan(_event(Direction.EXIT, Regime.LONG_SQUEEZE), subs)) == {1, 5}


def test_a_repeat_entry_within_the_cooldown_is_held_a_switch_is_not() -> None:
    subs = [Sub(1, "BTCUSDT", SubKind.LIQUIDATIONS)]
    last = {(1, "BTCUSDT", "liquidations"): LastAlert(T0 - MIN, "enter:long")}
    assert _plan(_event(), subs, last) == {1: DeliveryStatus.SUPPRESSED}
    other = {(1, "BTCUSDT", "liquidations"): LastAlert(T0 - MIN, "enter:short")}
    assert _plan(_event(), subs, other) == {1: DeliveryStatus.PENDING}


def test_headless_logs_one_line_per_cascade_event() -> None:
    from bot.cycle.alert_hook import format_alert_line

    _, events = feed([reading(4e6), reading(0.0), reading(0.0)])
    lines = [format_alert_line(e) for cycle in events for e in cycle]
    assert lines == [
        "ALERT BTCUSDT liquidations enter long score 50 LONG",
        "ALERT BTCUSDT liquidations exit long score 50 LONG",
    ]
