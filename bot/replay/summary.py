"""The replay report: what a band or regime was followed by, and how often alerts fire.

Pure functions over scored hours and alert records; `build_report` returns plain dicts
and lists (the `--json` output), and `render_text` prints the same as tables.

Definitions (docs/scoring.md, Evidence, uses exactly these):
- An *hour* is one symbol scored at one hour. Shares of hours are over scored hours.
- Forward move: the signed percent change of the perp price from the scored hour t to
  exactly t+4h / t+24h. When that hour has no price, the hour is left out of the move
  statistics (`n_4h`, `n_24h` count the hours that have one). Statistics are of the
  absolute move: the median, and p90 by linear interpolation between order statistics
  (numpy's default): position 0.9*(n-1) in the sorted values.
- Per-symbol-day rates divide a count by the scored hours / 24 of the period.
- Band changes are the engine's confirmed band transitions (events), all of them and
  those into stressed; squeeze entries are its squeeze `enter` events.
- Pushes are the default subscriber's `pending` deliveries; several in one cycle go out
  as one digest message, so digests count distinct cycles with at least one push.
- Periods split by the time of the scored hour or of the cycle: `fit` is before the
  split, `verify` from it on.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from bot.alerts.types import DeliveryStatus
from bot.replay.alerts import AlertRecord
from bot.replay.data import format_time
from bot.scoring.formula import Band, Regime

HOURS_PER_DAY = 24


def quantile(values: Sequence[float], q: float) -> float | None:
    """Linear interpolation between order statistics (numpy's default); None if empty."""
    if not values:
        return None
    ordered = sorted(values)
    pos = q * (len(ordered) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def move_stats(hours: Iterable[Any]) -> dict[str, Any]:
    """n, and median / p90 of |forward 4h| and |forward 24h| moves, in percent."""
    hours = list(hours)
    out: dict[str, Any] = {"hours": len(hours)}
    for name in ("4h", "24h"):
        moves = [abs(m) for h in hours if (m := getattr(h, f"fwd_{name}")) is not None]
        out[f"n_{name}"] = len(moves)
        out[f"median_{name}"] = _round(statistics.median(moves) if moves else None)
        out[f"p90_{name}"] = _round(quantile(moves, 0.9))
    return out


def signed_stats(hours: Iterable[Any]) -> dict[str, Any]:
    """Mean and median signed forward 24h move, and the share of hours followed by a rise."""
    moves = [h.fwd_24h for h in hours if h.fwd_24h is not None]
    return {
        "n_24h": len(moves),
        "mean_24h": _round(statistics.fmean(moves) if moves else None),
        "median_24h": _round(statistics.median(moves) if moves else None),
        "up_share_24h": _round(sum(m > 0 for m in moves) / len(moves) if moves else None),
    }


def period_report(
    scored: Sequence[Any], records: Sequence[AlertRecord], cycle_hours: int
) -> dict[str, Any]:
    """The report for one period: its scored hours, its alert records, and the number
    of distinct cycle hours in it (for per-subscriber-day rates)."""
    n = len(scored)
    symbol_days = n / HOURS_PER_DAY
    by_band = _group(scored, lambda h: h.score.band)
    by_regime = _group(scored, lambda h: h.score.regime)
    bands = [
        {"band": b.value, "share": _round(len(by_band[b]) / n if n else None, 4)}
        | move_stats(by_band[b])
        for b in Band
    ]
    regimes = [
        {"regime": r.value, "share": _round(len(by_regime[r]) / n if n else None, 4)}
        | move_stats(by_regime[r])
        for r in Regime
    ]
    return {
        "from": format_time(scored[0].ts_ms) if scored else None,
        "to": format_time(scored[-1].ts_ms) if scored else None,
        "hours": n,
        "symbol_days": _round(symbol_days, 1),
        "all_hours": move_stats(scored),
        "bands": bands,
        "regimes": regimes,
        "alerts": alert_rates(scored, records, cycle_hours),
    }


def alert_rates(
    scored: Sequence[Any], records: Sequence[AlertRecord], cycle_hours: int
) -> dict[str, Any]:
    symbol_days = len(scored) / HOURS_PER_DAY
    band = [r for r in records if r.kind == "band"]
    pushes = [r for r in records if r.delivery == DeliveryStatus.PENDING]
    suppressed = Counter(r.reason for r in records if r.delivery == DeliveryStatus.SUPPRESSED)
    hours_per_symbol = Counter(h.symbol for h in scored)
    pushes_per_symbol = Counter(r.symbol for r in pushes)
    per_symbol_day = Counter((r.symbol, r.ts_ms // (HOURS_PER_DAY * 3_600_000)) for r in pushes)
    return {
        "band_changes_per_symbol_day": _rate(len(band), symbol_days),
        "into_stressed_per_symbol_day": _rate(
            sum(r.to_band == Band.STRESSED.value and r.direction == "up" for r in band),
            symbol_days,
        ),
        "squeeze_entries_per_symbol_day": _rate(
            sum(r.kind == "squeeze" and r.direction == "enter" for r in records), symbol_days
        ),
        "pushes_per_symbol_day": _rate(len(pushes), symbol_days),
        "pushes_by_kind_per_symbol_day": {
            f"{kind} {direction}": _rate(count, symbol_days)
            for (kind, direction), count in sorted(
                Counter((r.kind, r.direction) for r in pushes).items()
            )
        },
        "suppressed_per_symbol_day": {
            str(reason): _rate(count, symbol_days) for reason, count in sorted(suppressed.items())
        },
        "max_pushes_in_one_symbol_day": max(per_symbol_day.values(), default=0),
        "digests_per_subscriber_day": _rate(
            len({r.ts_ms for r in pushes}), cycle_hours / HOURS_PER_DAY
        ),
        "pushes_per_day_by_symbol": {
            s: _rate(pushes_per_symbol[s], hours_per_symbol[s] / HOURS_PER_DAY)
            for s in sorted(hours_per_symbol)
        },
    }


def build_report(
    scored: Sequence[Any],
    records: Sequence[AlertRecord],
    *,
    split_ms: int | None = None,
    meta: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """{"meta": ..., "periods": {"all": ..., ["fit": ..., "verify": ...]}}."""
    periods: dict[str, Any] = {"all": _period(scored, records, lambda t: True)}
    if split_ms is not None:
        periods["fit"] = _period(scored, records, lambda t: t < split_ms)
        periods["verify"] = _period(scored, records, lambda t: t >= split_ms)
    return {"meta": meta or {}, "periods": periods}


def _period(
    scored: Sequence[Any], records: Sequence[AlertRecord], keep: Callable[[int], bool]
) -> dict[str, Any]:
    hours = [h for h in scored if keep(h.ts_ms)]
    return period_report(
        hours, [r for r in records if keep(r.ts_ms)], len({h.ts_ms for h in hours})
    )


# ---------------------------------------------------------------- text


def render_text(report: dict[str, Any]) -> str:
    lines: list[str] = []
    for key, value in report.get("meta", {}).items():
        if isinstance(value, dict):
            value = ", ".join(f"{k} {v}" for k, v in value.items())
        elif isinstance(value, list):
            value = " ".join(str(v) for v in value)
        lines.append(f"{key.replace('_', ' ')}: {value}")
    for name, period in report["periods"].items():
        lines += [
            "",
            f"== {name}: {period['from']} .. {period['to']}, "
            f"{period['hours']} symbol-hours ({period['symbol_days']} symbol-days)",
        ]
        lines += ["", *_moves_table("band", period["bands"], period["all_hours"])]
        regimes = [r for r in period["regimes"] if r["hours"]]
        lines += ["", *_moves_table("regime", regimes, period["all_hours"])]
        lines += ["", *_alerts_lines(period["alerts"])]
    return "\n".join(lines).lstrip("\n")


def _moves_table(key: str, rows: list[dict[str, Any]], everything: dict[str, Any]) -> list[str]:
    head = (
        f"{key:<24} {'share':>6} {'hours':>7} {'med|4h|':>8} {'p90|4h|':>8} "
        f"{'med|24h|':>9} {'p90|24h|':>9} {'n(24h)':>7}"
    )
    out = [head, "-" * len(head)]
    for row in [*rows, {key: "all hours", "share": 1.0, **everything}]:
        share = "" if row["share"] is None else f"{100 * row['share']:.1f}%"
        out.append(
            f"{row[key]:<24} {share:>6} {row['hours']:>7} {_pct(row['median_4h']):>8} "
            f"{_pct(row['p90_4h']):>8} {_pct(row['median_24h']):>9} "
            f"{_pct(row['p90_24h']):>9} {row['n_24h']:>7}"
        )
    return out


def _alerts_lines(a: dict[str, Any]) -> list[str]:
    out = [
        f"band changes per symbol-day:      {a['band_changes_per_symbol_day']}",
        f"  of which into stressed:         {a['into_stressed_per_symbol_day']}",
        f"squeeze entries per symbol-day:   {a['squeeze_entries_per_symbol_day']}",
        f"pushes per symbol-day (default subscriber): {a['pushes_per_symbol_day']}",
    ]
    for kind, rate in a["pushes_by_kind_per_symbol_day"].items():
        out.append(f"  {kind + ':':<32}{rate}")
    for reason, rate in a["suppressed_per_symbol_day"].items():
        out.append(f"  suppressed ({reason}): {rate}")
    out.append(f"  most pushes in one symbol-day:  {a['max_pushes_in_one_symbol_day']}")
    out.append(f"digest messages per subscriber-day: {a['digests_per_subscriber_day']}")
    by_symbol = ", ".join(f"{s} {r}" for s, r in a["pushes_per_day_by_symbol"].items())
    out.append(f"pushes per day by symbol: {by_symbol}")
    return out


def _group(items: Iterable[Any], key: Callable[[Any], Any]) -> dict[Any, list[Any]]:
    out: dict[Any, list[Any]] = defaultdict(list)
    for item in items:
        out[key(item)].append(item)
    return out


def _rate(count: int, days: float) -> float | None:
    return round(count / days, 3) if days else None


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}%"
