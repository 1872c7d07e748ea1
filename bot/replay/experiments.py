"""Calibration experiments behind docs/scoring.md (Evidence). Not used by the bot.

    python -m bot.replay.experiments PATH [--split 2025-03-01] [--skip-alerts]

Every choice is made on the fit period (before the split) and then reported on the
verify period (from it on), never the other way round:
- `alignment`: which close pairs with which index (data.py's mapping);
- `basis_windows`: the basis smoothing window (run.py's default);
- `squeeze_comparison`: the shipped squeeze rule against a funding-extreme variant
  (|funding premium| >= a threshold while OI builds, no basis condition), judged by
  p90 |24h move| after a label over p90 over all hours; the variant's threshold is
  fitted; plus signed moves after Long vs Short labels (violence or direction?);
- `before_after`: median |24h move| before and after hours of each band;
- `alert_grid`: pushes per symbol-day for the default subscriber under candidate alert
  defaults, through the real engine.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
from collections.abc import Callable, Sequence
from typing import Any

from bot.config import Settings
from bot.replay.alerts import replay_alerts
from bot.replay.data import HOUR_MS, History, parse_time, read_history
from bot.replay.run import (
    DEFAULT_SMOOTH_HOURS,
    BasisOptions,
    ScoredHour,
    planned_cycles,
    score_history,
)
from bot.replay.summary import alert_rates, quantile, signed_stats
from bot.scoring.formula import Band, ScoringParams, basis_pct

SPLIT = "2025-03-01"
BASIS_WINDOWS = (1, 2, 3, 4, 6, 8, 12)
FUNDING_THRESHOLDS = (0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2)
MIN_LABEL_HOURS = 500  # a p90 from fewer fitted hours is too noisy to pick by
ALERT_GRID: tuple[dict[str, Any], ...] = (
    {},
    {"cooldown_minutes": 120},
    {"cooldown_minutes": 240},
    {"cooldown_minutes": 360},
    {"cooldown_minutes": 720},
    {"hysteresis_points": 5},
    {"default_min_band": "stressed"},
    {"default_min_band": "stressed", "cooldown_minutes": 240},
    {"hysteresis_points": 5, "cooldown_minutes": 240},
)

Label = Callable[[ScoredHour], str | None]  # "long" | "short" | None


# ---------------------------------------------------------------- data mapping


def alignment(history: History, lags: Sequence[int] = (-1, 0, 1, 2)) -> dict[str, Any]:
    """Per symbol: median |close(t) / index(t+lag) - 1| in percent, and the correlation
    of the same-row basis with the hour's own price change."""
    out: dict[str, Any] = {}
    for symbol, rows in history.rows.items():
        close = {r.ts_ms: r.perp_close for r in rows}
        index = {r.ts_ms: r.index_price for r in rows}
        medians = {}
        for lag in lags:
            values = [
                abs(c / index[t + lag * HOUR_MS] - 1) * 100
                for t, c in close.items()
                if t + lag * HOUR_MS in index
            ]
            medians[lag] = round(statistics.median(values), 3)
        pairs = [
            (basis_pct(c, index[t]), (c / close[t - HOUR_MS] - 1) * 100)
            for t, c in close.items()
            if t - HOUR_MS in close
        ]
        corr = statistics.correlation([a for a, _ in pairs], [b for _, b in pairs])
        out[symbol] = {"median_abs_pct_by_lag": medians, "same_row_corr_hour_move": round(corr, 2)}
    return out


def basis_windows(history: History, split_ms: int) -> dict[str, dict[int, float]]:
    """Fit period only: the error of the k-hour trailing mean of the basis as a forecast
    of the next hour's basis, relative to the best k for that symbol (1.0 = best)."""
    out: dict[str, dict[int, float]] = {}
    for symbol, rows in history.rows.items():
        marks = {r.ts_ms + HOUR_MS: r.perp_close for r in rows}
        raw = {r.ts_ms: basis_pct(marks[r.ts_ms], r.index_price) for r in rows if r.ts_ms in marks}
        errors = {}
        for k in BASIS_WINDOWS:
            sq = []
            for t in raw:
                nxt = raw.get(t + HOUR_MS)
                if t >= split_ms or nxt is None:
                    continue
                window = [raw[t - i * HOUR_MS] for i in range(k) if t - i * HOUR_MS in raw]
                sq.append((sum(window) / len(window) - nxt) ** 2)
            errors[k] = statistics.fmean(sq)
        best = min(errors.values())
        out[symbol] = {k: round(v / best, 3) for k, v in errors.items()}
    return out


# ---------------------------------------------------------------- labels


def design_squeeze(h: ScoredHour) -> str | None:
    regime = h.score.regime.value
    return (
        "long"
        if regime == "Long squeeze risk"
        else "short"
        if regime == "Short squeeze risk"
        else None
    )


def funding_extreme(threshold: float, params: ScoringParams) -> Label:
    """The variant: |funding premium| >= threshold while OI builds; basis ignored."""

    def label(h: ScoredHour) -> str | None:
        i = h.inputs
        building = (i.oi_4h is not None and i.oi_4h >= params.building_oi_4h) or (
            i.oi_24h is not None and i.oi_24h >= params.building_oi_24h
        )
        fp = h.score.funding_premium
        if not building or abs(fp) < threshold:
            return None
        return "long" if fp > 0 else "short"

    return label


def label_stats(hours: Sequence[ScoredHour], label: Label) -> dict[str, Any]:
    """p90 |24h| after labelled hours and after label entries, over p90 of all hours."""
    labelled = {(h.symbol, h.ts_ms): side for h in hours if (side := label(h))}
    baseline = quantile([abs(h.fwd_24h) for h in hours if h.fwd_24h is not None], 0.9) or 0.0
    tagged = [h for h in hours if (h.symbol, h.ts_ms) in labelled]
    entries = [h for h in tagged if (h.symbol, h.ts_ms - HOUR_MS) not in labelled]

    def ratio(group: Sequence[ScoredHour]) -> float | None:
        p90 = quantile([abs(h.fwd_24h) for h in group if h.fwd_24h is not None], 0.9)
        return None if p90 is None or not baseline else round(p90 / baseline, 3)

    by_side = {
        side: signed_stats([h for h in tagged if labelled[(h.symbol, h.ts_ms)] == side])
        for side in ("long", "short")
    }
    return {
        "hours": len(tagged),
        "share": round(len(tagged) / len(hours), 4) if hours else None,
        "entries": len(entries),
        "ratio_hours": ratio(tagged),
        "ratio_entries": ratio(entries),
        "signed_24h": by_side,
    }


def squeeze_comparison(
    scored: Sequence[ScoredHour], split_ms: int, params: ScoringParams
) -> dict[str, Any]:
    fit = [h for h in scored if h.ts_ms < split_ms]
    verify = [h for h in scored if h.ts_ms >= split_ms]
    grid = {thr: label_stats(fit, funding_extreme(thr, params)) for thr in FUNDING_THRESHOLDS}
    eligible = {t: s for t, s in grid.items() if s["hours"] >= MIN_LABEL_HOURS}
    best = max(eligible, key=lambda t: eligible[t]["ratio_hours"] or 0.0)
    chosen = funding_extreme(best, params)
    # Shown for transparency only; the threshold is chosen on the fit grid alone.
    verify_grid = {t: label_stats(verify, funding_extreme(t, params)) for t in FUNDING_THRESHOLDS}
    return {
        "variant_fit_grid": {
            t: {k: s[k] for k in ("hours", "ratio_hours")} for t, s in grid.items()
        },
        "variant_verify_grid": {
            t: {k: s[k] for k in ("hours", "ratio_hours")} for t, s in verify_grid.items()
        },
        "variant_threshold": best,
        "design": {
            "fit": label_stats(fit, design_squeeze),
            "verify": label_stats(verify, design_squeeze),
        },
        "variant": {"fit": label_stats(fit, chosen), "verify": label_stats(verify, chosen)},
    }


def before_after(scored: Sequence[ScoredHour], split_ms: int) -> dict[str, Any]:
    """Median |24h move| into each band's hours (t-24h to t) and out of them (t to t+24h)."""
    mark = {(h.symbol, h.ts_ms): h.mark for h in scored}
    out: dict[str, Any] = {}
    halves: tuple[tuple[str, Callable[[int], bool]], ...] = (
        ("fit", lambda t: t < split_ms),
        ("verify", lambda t: t >= split_ms),
    )
    for name, keep in halves:
        rows = {}
        for band in Band:
            hours = [h for h in scored if keep(h.ts_ms) and h.score.band is band]
            back = [
                abs(h.mark / mark[k] - 1) * 100
                for h in hours
                if (k := (h.symbol, h.ts_ms - 24 * HOUR_MS)) in mark
            ]
            fwd = [abs(h.fwd_24h) for h in hours if h.fwd_24h is not None]
            rows[band.value] = {
                "hours": len(hours),
                "median_before": round(statistics.median(back), 2) if back else None,
                "median_after": round(statistics.median(fwd), 2) if fwd else None,
            }
        out[name] = rows
    return out


# ---------------------------------------------------------------- alert defaults


async def alert_grid(
    settings: Settings, scored: Sequence[ScoredHour], split_ms: int
) -> list[dict[str, Any]]:
    """Pushes per symbol-day (and digests per day) on fit and verify, per candidate."""
    cycles = planned_cycles(scored)
    fit = [h for h in scored if h.ts_ms < split_ms]
    verify = [h for h in scored if h.ts_ms >= split_ms]
    out = []
    for overrides in ALERT_GRID:
        trial = settings.model_copy(update={"alerts": settings.alerts.model_copy(update=overrides)})
        log = await replay_alerts(trial, cycles)
        row: dict[str, Any] = {"overrides": overrides, "seconds": round(log.seconds, 1)}
        for name, hours in (("fit", fit), ("verify", verify)):
            keep: Callable[[int], bool] = (
                (lambda t: t < split_ms) if name == "fit" else (lambda t: t >= split_ms)
            )
            rates = alert_rates(
                hours, [r for r in log.records if keep(r.ts_ms)], len({h.ts_ms for h in hours})
            )
            row[name] = {
                "pushes": rates["pushes_per_symbol_day"],
                "band": sum(
                    v
                    for k, v in rates["pushes_by_kind_per_symbol_day"].items()
                    if k.startswith("band")
                ),
                "squeeze": sum(
                    v
                    for k, v in rates["pushes_by_kind_per_symbol_day"].items()
                    if k.startswith("squeeze")
                ),
                "max_day": rates["max_pushes_in_one_symbol_day"],
                "digests_per_day": rates["digests_per_subscriber_day"],
            }
        out.append(row)
        print(row, file=sys.stderr, flush=True)
    return out


# ---------------------------------------------------------------- main


async def run_all(path: str, split: str, *, alerts: bool = True) -> dict[str, Any]:
    settings = Settings()
    split_ms = parse_time(split)
    history = read_history(path)
    tolerance_ms = settings.scorer.window_tolerance_seconds * 1000
    scored, _ = score_history(
        history,
        settings.scoring,
        tolerance_ms=tolerance_ms,
        basis=BasisOptions(DEFAULT_SMOOTH_HOURS),
    )
    out: dict[str, Any] = {
        "alignment": alignment(history),
        "basis_windows": basis_windows(history, split_ms),
        "squeeze": squeeze_comparison(scored, split_ms, settings.scoring),
        "before_after": before_after(scored, split_ms),
    }
    if alerts:
        out["alert_grid"] = await alert_grid(settings, scored, split_ms)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.replay.experiments")
    parser.add_argument("path")
    parser.add_argument("--split", default=SPLIT)
    parser.add_argument("--skip-alerts", action="store_true", help="no alert-defaults grid")
    args = parser.parse_args(argv)
    import json

    result = asyncio.run(run_all(args.path, args.split, alerts=not args.skip_alerts))
    print(json.dumps(result, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
