"""The /symbol chart's CPU (README, Performance; issue 17 §5): ours, one figure per
worker thread redrawn with each chart's data, beside the naive peer that builds a figure
per chart (the renderer before issue 17, bench/_figure_per_chart.py).

    .venv/bin/python bench/chart_render.py [--charts 40] [--points 576]

Method: `--charts` different symbols' histories of `--points` 5-minute points (576 =
the 48 h a /symbol chart shows), three panels (score, OI, funding and basis). Each
renderer draws all of them once to warm up (fonts, imports, its figure), then again
timed: CPU seconds (process_time, one thread) per chart, median of three passes. The
two outputs are decoded and compared pixel by pixel: the chart's content must not
change. Prints ms of CPU a chart for each, the ratio, and the PNG sizes. Then ours again
with the liquidations panel (a fourth panel: longs and shorts liquidated per interval,
what /symbol draws when a liquidation stream is configured), and what that panel costs.
"""

from __future__ import annotations

import argparse
import io
import random
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
from _figure_per_chart import render_chart_fresh  # bench/ is sys.path[0] when a script runs
from _machine import machine
from PIL import Image

from bot.storage.market_repo import HistoryPoint
from bot.telegram.chart_figure import render_chart

STEP_MS = 300_000
Renderer = Callable[[str, Sequence[Sequence[float]]], bytes]


def histories(n: int, points: int, seed: int = 1) -> list[list[HistoryPoint]]:
    """Random walks like a symbol's 48 h: score, OI over decades, funding and basis."""
    rng = random.Random(seed)
    end = int(time.time() * 1000) // STEP_MS * STEP_MS
    out = []
    for _ in range(n):
        score, oi = rng.uniform(5, 70), 10 ** rng.uniform(4, 9)
        funding, basis, rows = rng.gauss(0.01, 0.01), rng.gauss(0, 0.05), []
        for k in range(points):
            score = min(100.0, max(0.0, score + rng.gauss(0, 2)))
            oi *= 1 + rng.gauss(0, 0.003)
            funding += rng.gauss(0, 0.0005)
            basis += rng.gauss(0, 0.005)
            rows.append(
                HistoryPoint(end - (points - k) * STEP_MS, round(score), oi, funding, basis)
            )
        out.append(rows)
    return out


def with_liquidations(
    data: list[list[HistoryPoint]], seed: int = 2
) -> list[list[tuple[float, ...]]]:
    """Each point with USD of longs and shorts liquidated in its interval: mostly quiet
    minutes, now and then a burst, as the stream records them."""
    rng = random.Random(seed)

    def burst() -> float:
        return rng.uniform(1e5, 5e7) if rng.random() < 0.2 else 0.0

    return [[(*p, burst(), burst()) for p in points] for points in data]


def timed(render: Renderer, data: Sequence[Sequence[Sequence[float]]]) -> tuple[float, list[bytes]]:
    """Median CPU seconds a chart over three passes, and the last pass's PNGs."""
    per_chart, pngs = [], []
    for _ in range(3):
        started = time.process_time()
        pngs = [render(f"SYM{i:04d}USDT", points) for i, points in enumerate(data)]
        per_chart.append((time.process_time() - started) / len(data))
    return statistics.median(per_chart), pngs


def pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--charts", type=int, default=40)
    ap.add_argument("--points", type=int, default=576)
    args = ap.parse_args()
    data = histories(args.charts, args.points)
    warnings.simplefilter("ignore")  # AutoDateLocator on short histories
    for render in (render_chart_fresh, render_chart):
        for i, points in enumerate(data):
            render(f"SYM{i:04d}USDT", points)
    naive_s, naive_png = timed(render_chart_fresh, data)
    ours_s, ours_png = timed(render_chart, data)
    pairs = zip(naive_png, ours_png, strict=True)
    same = sum(bool((pixels(a) == pixels(b)).all()) for a, b in pairs)
    size = statistics.mean
    print(f"machine: {machine()}")
    print(f"{args.charts} charts of {args.points} points (three panels), CPU ms a chart:")
    print(f"  {'figure built per chart (naive, before)':<44}{naive_s * 1000:>8.1f} ms")
    print(f"  {'one figure per thread, redrawn (ours)':<44}{ours_s * 1000:>8.1f} ms")
    print(f"  ratio {naive_s / ours_s:.2f}x")
    print(
        f"  PNG size: naive {size(map(len, naive_png)) / 1024:.0f} KiB, "
        f"ours {size(map(len, ours_png)) / 1024:.0f} KiB"
    )
    liq = with_liquidations(data)
    for i, points in enumerate(liq):
        render_chart(f"SYM{i:04d}USDT", points)
    liq_s, liq_png = timed(render_chart, liq)
    print(f"  {'with the liquidations panel (ours, four)':<44}{liq_s * 1000:>8.1f} ms")
    print(
        f"  the panel costs {(liq_s - ours_s) * 1000:+.1f} ms a chart "
        f"({liq_s / ours_s:.2f}x), PNG {size(map(len, liq_png)) / 1024:.0f} KiB"
    )
    ok = same == len(data)
    print(f"{'PASS' if ok else 'FAIL'} identical pixels: {same}/{len(data)} charts")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
