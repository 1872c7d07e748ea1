"""The /symbol chart is drawn on a figure reused per worker thread (bot/telegram/chart_figure.py):
whatever was drawn before, a chart comes out as from a figure built for it alone."""

from __future__ import annotations

import random
import threading
import warnings

from bot.storage.market_repo import HistoryPoint
from bot.telegram.chart_figure import render_chart


def history(n: int, seed: int, oi: float = 1e6, rates: float = 0.0) -> list[HistoryPoint]:
    """`rates` lifts funding and basis above zero (the zero line's own scaling rule)."""
    rng = random.Random(seed)
    return [
        HistoryPoint(
            1_765_000_000_000 + i * 300_000,
            rng.randint(0, 100),
            oi + rng.uniform(-0.01, 0.01) * oi * i,
            rates + rng.uniform(0.0, 0.03) * seed,
            rates + rng.uniform(-0.2, 0.2),
        )
        for i in range(n)
    ]


def in_new_thread(symbol: str, points: list[HistoryPoint]) -> bytes:
    """A thread that has drawn nothing yet: its figure is built for this chart."""
    out: list[bytes] = []
    thread = threading.Thread(target=lambda: out.append(render_chart(symbol, points)))
    thread.start()
    thread.join()
    return out[0]


def test_a_reused_figure_draws_what_a_fresh_one_draws() -> None:
    charts = {
        "wide": history(288, 1),
        "dot": history(1, 2, oi=2e9),
        "tiny": history(3, 3, oi=12.0),
        # Rates just above zero: the zero line sits inside the padded range, no wider.
        "near zero": history(100, 4, rates=0.21),
        "far above zero": history(100, 5, rates=5.0),
    }
    order = ["wide", "dot", "tiny", "near zero", "wide", "far above zero", "near zero", "dot"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # AutoDateLocator on a few points
        fresh = {name: in_new_thread(name, pts) for name, pts in charts.items()}
        # One thread, one figure, charts of every shape in turn: no limits, style,
        # legend or title carried over from the chart before.
        for name in order:
            assert render_chart(name, charts[name]) == fresh[name], name
        wide = charts["wide"]
        score_only = [(p.ts_ms, p.score) for p in wide]
        assert render_chart("A", score_only) == in_new_thread("A", score_only)


def with_liquidations(points: list[HistoryPoint], seed: int) -> list[tuple[float, ...]]:
    """The chart's points with the USD of longs and shorts liquidated per interval."""
    rng = random.Random(seed)
    return [(*p, rng.choice([0.0, rng.uniform(0, 5e6)]), rng.uniform(0, 1e6)) for p in points]


def test_the_liquidations_panel_is_a_layout_of_its_own_on_a_reused_figure() -> None:
    plain = history(288, 1)
    charts = {
        "liq": with_liquidations(plain, 1),
        "liq dot": with_liquidations(history(1, 2), 2),
        "liq quiet": [(*p, 0.0, 0.0) for p in history(50, 3)],
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fresh = {name: in_new_thread(name, pts) for name, pts in charts.items()}
        for name in ["liq", "liq dot", "liq", "liq quiet", "liq"]:
            assert render_chart(name, charts[name]) == fresh[name], name
            # The three-panel chart in the same thread is unchanged by the fourth panel.
            assert render_chart("plain", plain) == in_new_thread("plain", plain)
        assert fresh["liq"] != in_new_thread("liq", plain)


def test_every_span_gets_a_time_axis_matplotlib_can_step() -> None:
    """Spans where matplotlib's default steps give no six-tick choice (it warns, then
    crowds the axis): 4 minutes, 3.5 hours, 4 days; 1 hour and a month beside them."""
    for span_s in (240, 12_600, 345_600, 3_600, 2_592_000):
        points = history(49, 3)
        step = span_s * 1000 // (len(points) - 1)
        points = [p._replace(ts_ms=points[0].ts_ms + i * step) for i, p in enumerate(points)]
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert render_chart("BTCUSDT", points).startswith(b"\x89PNG")
