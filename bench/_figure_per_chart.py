"""The naive peer of the /symbol chart, as it was drawn before issue 17: a figure, its
three axes, bands, labels and legend built afresh for every chart, dates as datetime
objects, PNG through savefig (RGBA, zlib 6). Same pixels as bot/telegram/chart_figure.py.

bench/chart_render.py times it beside ours; bench/rest_cost.py runs the service with it
as "today's" configuration:

    .venv/bin/python bench/_figure_per_chart.py run    # `pressurebot run`, this renderer
"""

from __future__ import annotations

import io
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.dates import AutoDateLocator, DateFormatter
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from bot.scoring.formula import DEFAULT_PARAMS, ScoringParams
from bot.telegram import charts
from bot.telegram.chart_figure import _compact, band_spans


def render_chart_fresh(
    symbol: str, points: Sequence[Sequence[float]], params: ScoringParams = DEFAULT_PARAMS
) -> bytes:
    """PNG bytes of the /symbol chart: score over time with the bands shaded (following
    `params`, the configured `[scoring]` bounds), and below it on the same time axis open
    interest and funding per 8h beside basis, the inputs the score is built from (as the
    web dashboard's symbol page shows them). `points` are `HistoryPoint`s oldest first;
    bare (ts_ms, score) pairs draw the score panel alone."""
    panels = len(points[0]) >= 5 if points else False
    fig = Figure(figsize=(6.4, 5.6 if panels else 3.2), dpi=100)
    FigureCanvasAgg(fig)
    grid = fig.add_gridspec(3 if panels else 1, 1, height_ratios=[2, 1, 1] if panels else [1])
    ax = fig.add_subplot(grid[0])
    times = [datetime.fromtimestamp(p[0] / 1000, tz=UTC) for p in points]
    _score_panel(ax, times, [p[1] for p in points], band_spans(params))
    ax.set_title(f"{symbol} · derivatives pressure (UTC)", fontsize=10)
    bottom = ax
    if panels:
        oi_ax = fig.add_subplot(grid[1], sharex=ax)
        _line(oi_ax, times, [p[2] for p in points], "#00695c", "open interest")
        rate_ax = fig.add_subplot(grid[2], sharex=ax)
        _line(rate_ax, times, [p[3] for p in points], "#6a1b9a", "funding 8h %")
        _line(rate_ax, times, [p[4] for p in points], "#ef6c00", "basis %")
        rate_ax.axhline(0, color="#999", linewidth=0.6, zorder=1)
        rate_ax.legend(loc="upper left", fontsize=7, frameon=False, ncols=2)
        rate_ax.set_ylabel("%", fontsize=8)
        for upper in (ax, oi_ax):
            upper.tick_params(labelbottom=False)
        bottom = rate_ax
    bottom.xaxis.set_major_locator(AutoDateLocator(maxticks=6))
    bottom.xaxis.set_major_formatter(DateFormatter("%d %H:%M", tz=UTC))
    fig.subplots_adjust(
        left=0.1, right=0.97, top=0.94 if panels else 0.9, bottom=0.07 if panels else 0.12
    )
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def _score_panel(
    ax: Axes, times: list[datetime], scores: list[float], spans: list[tuple[int, int, str, str]]
) -> None:
    for lo, hi, color, name in spans:
        ax.axhspan(lo, hi, color=color, zorder=0)
        ax.text(
            0.99,
            (lo + hi) / 200,
            name,
            transform=ax.transAxes,
            fontsize=7,
            color="#666",
            va="center",
            ha="right",
        )
    if len(times) == 1:
        # matplotlib plots datetimes through its unit converters; its ArrayLike hint omits them.
        ax.plot(times, scores, "o", color="#1a237e", zorder=2)  # type: ignore[arg-type]
    else:
        ax.plot(times, scores, color="#1a237e", linewidth=1.6, zorder=2)  # type: ignore[arg-type]
    ax.set_ylim(0, 100)
    ax.set_yticks([*(lo for lo, _, _, _ in spans), 100])
    ax.set_ylabel("score")
    ax.tick_params(labelsize=8)
    ax.grid(axis="x", alpha=0.3)


def _line(ax: Axes, times: list[datetime], values: list[float], color: str, label: str) -> None:
    style = "o" if len(times) == 1 else "-"
    ax.plot(times, values, style, color=color, linewidth=1.2, label=label)  # type: ignore[arg-type]
    ax.tick_params(labelsize=7)
    ax.grid(axis="x", alpha=0.3)
    if label == "open interest":
        ax.set_ylabel("OI", fontsize=8)
        ax.yaxis.set_major_formatter(FuncFormatter(_compact))


def main() -> int:
    """`pressurebot` with this renderer: ChartCache looks `render_chart` up at call time."""
    from bot.cli import main as cli_main

    charts.render_chart = render_chart_fresh
    return cli_main(sys.argv[1:])


if __name__ == "__main__":
    raise SystemExit(main())
