"""A scored symbol as the rule fields: the live cycle (bot/cycle/rule_hook.py) and the
replayed history (bot/replay/rule_history.py) read rows the same way."""

from __future__ import annotations

from bot.alerts.rules.fields import band_code, bias_code, regime_code
from bot.scoring.result import SymbolScore


def row_values(s: SymbolScore, funding_8h_prev: float | None = None) -> dict[str, float | None]:
    """One scored symbol as the rule fields (bot/alerts/rules/fields.py); the caller
    knows the cycle before (`funding_8h_prev`), the row does not."""
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
    }


def _opt(value: int | None) -> float | None:
    return None if value is None else float(value)
