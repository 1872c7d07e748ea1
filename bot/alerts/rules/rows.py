"""A scored symbol as the rule fields: the live cycle (bot/cycle/rule_hook.py) and the
replayed history (bot/replay/rule_history.py) read rows the same way."""

from __future__ import annotations

from collections.abc import Mapping

from bot.alerts.cascade import CascadeReading
from bot.alerts.rules.fields import band_code, bias_code, regime_code
from bot.alerts.types import CascadeSide
from bot.scoring.result import SymbolScore

Values = dict[str, float | None]


def row_values(
    s: SymbolScore,
    funding_8h_prev: float | None = None,
    liq: Mapping[str, float | None] | None = None,
) -> Values:
    """One scored symbol as the rule fields (bot/alerts/rules/fields.py); the caller
    knows the cycle before (`funding_8h_prev`) and the liquidation fields (`liq`, from
    `liq_values`), the row does not."""
    score = s.score
    hours = s.funding_interval_hours
    nxt = s.funding_next_pct
    return {
        "score": float(score.score),
        "band": band_code(score.band.value),
        "bias": bias_code(score.bias.value),
        "regime": regime_code(score.regime.value),
        "oi_1h": s.oi_1h_pct,
        "oi_4h": s.oi_4h_pct,
        "oi_24h": s.oi_24h_pct,
        "funding": s.funding_pct,
        "funding_8h": score.funding_8h_pct,
        "funding_interval": float(s.funding_interval_hours),
        "basis": s.basis_pct,
        "funding_8h_prev": funding_8h_prev,
        "funding_next_8h": None if nxt is None or not hours else nxt * 8.0 / hours,
        "funding_pctl_90d": _opt(s.funding_pctl_90d),
        "oi_24h_pctl_90d": _opt(s.oi_24h_pctl_90d),
        "basis_pctl_90d": _opt(s.basis_pctl_90d),
        **(liq or {}),
    }


def liq_values(
    hour: CascadeReading | None, quarter: CascadeReading | None, min_coverage: float
) -> Values:
    """The `liq_*` fields from the cycle's 1h and 15-minute windows (read with the
    cascade's, bot/cycle/cascade_hook.py). A window whose stream coverage is under
    `min_coverage` (the cascade's floor) gives unknowns: a gap in the stream must not
    read as a calm hour. The coverage itself is known whenever the window was read, so
    a rule can watch the stream; without a reading (streams off) everything is unknown."""
    out: Values = {}
    if hour is not None:
        out["liq_coverage_1h"] = hour.coverage
    if hour is not None and hour.coverage >= min_coverage:
        total = hour.long_usd + hour.short_usd
        normal = hour.normal_usd
        out["liq_1h_long_usd"] = hour.long_usd
        out["liq_1h_short_usd"] = hour.short_usd
        out["liq_1h_oi_pct"] = _pct(total, hour.oi_usd)
        # As the row's figure (bot/liquidations/windows.py): no multiple of a zero normal.
        out["liq_1h_x_normal"] = total / normal if normal is not None and normal > 0 else None
    if quarter is not None and quarter.coverage >= min_coverage:
        out["liq_15m_long_oi_pct"] = quarter.oi_pct(CascadeSide.LONG)
        out["liq_15m_short_oi_pct"] = quarter.oi_pct(CascadeSide.SHORT)
    return out


def _pct(usd: float, oi_usd: float | None) -> float | None:
    return 100.0 * usd / oi_usd if oi_usd and oi_usd > 0 else None


def _opt(value: int | None) -> float | None:
    return None if value is None else float(value)
