"""The Derivatives Pressure Score: pure functions, no I/O, no clock, no config globals.

See docs/scoring.md for the model explained to a trader. Every constant is a field of
`ScoringParams`, which is the `[scoring]` config section.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from enum import StrEnum


class Band(StrEnum):
    NEUTRAL = "neutral"
    LEAN = "lean"
    STRETCHED = "stretched"
    STRESSED = "stressed"

    @property
    def rank(self) -> int:
        return _BAND_ORDER.index(self)


_BAND_ORDER = (Band.NEUTRAL, Band.LEAN, Band.STRETCHED, Band.STRESSED)


class Bias(StrEnum):
    LONG = "LONG"
    SHORT = "SHORT"
    NEUTRAL = "NEUTRAL"


class Regime(StrEnum):
    LONG_SQUEEZE = "Long squeeze risk"
    SHORT_SQUEEZE = "Short squeeze risk"
    LONG_CROWDED = "Long crowded"
    SHORT_RAMP = "Short ramp"
    DELEVERAGING = "Deleveraging"
    NET_LONG = "Net long bias building"
    NET_SHORT = "Net short bias building"
    NEUTRAL = "Neutral"

    @property
    def is_squeeze(self) -> bool:
        return self in (Regime.LONG_SQUEEZE, Regime.SHORT_SQUEEZE)


@dataclass(frozen=True)
class ScoringParams:
    """Reference model v1 (docs/scoring.md). Percent units throughout (0.01 means 0.01%)."""

    # Saturation scales: the change at which each term reaches tanh(1) ~ 76% of its cap.
    oi_1h_scale: float = 3.0
    oi_4h_scale: float = 8.0
    oi_24h_scale: float = 25.0
    oi_1h_weight: float = 0.2
    oi_4h_weight: float = 0.3
    oi_24h_weight: float = 0.5
    # Binance's neutral funding: the 0.01%/8h interest-rate component.
    funding_base_8h: float = 0.01
    funding_scale: float = 0.05
    basis_scale: float = 0.3
    oi_weight: float = 0.5
    funding_weight: float = 0.5  # share of the price half given to funding (rest: basis)
    # Bias: funding relative to this, basis relative to that, mixed 75/25.
    bias_funding_unit: float = 0.01
    bias_basis_unit: float = 0.1
    bias_funding_weight: float = 0.75
    bias_threshold: float = 0.1
    # Regimes.
    squeeze_funding_premium: float = 0.005
    squeeze_basis: float = 0.05
    building_oi_4h: float = 2.0
    building_oi_24h: float = 5.0
    crowded_score: int = 60
    delever_oi_4h: float = -5.0
    delever_oi_24h: float = -10.0
    # Band lower bounds.
    lean_from: int = 15
    stretched_from: int = 35
    stressed_from: int = 60


DEFAULT_PARAMS = ScoringParams()


def band_ranges(params: ScoringParams = DEFAULT_PARAMS) -> dict[Band, tuple[int, int]]:
    """Each band's inclusive score range under `params`: every screen that names a range
    (/start, the card, the chart) reads it here, so `[scoring]` changes show everywhere."""
    return {
        Band.NEUTRAL: (0, params.lean_from - 1),
        Band.LEAN: (params.lean_from, params.stretched_from - 1),
        Band.STRETCHED: (params.stretched_from, params.stressed_from - 1),
        Band.STRESSED: (params.stressed_from, 100),
    }


# Divisors in the formula: zero or negative would crash or invert a term.
_POSITIVE = (
    "oi_1h_scale",
    "oi_4h_scale",
    "oi_24h_scale",
    "funding_scale",
    "basis_scale",
    "bias_funding_unit",
    "bias_basis_unit",
)
# Shares of a whole: each keeps its component within 0..1.
_SHARES = (
    "oi_1h_weight",
    "oi_4h_weight",
    "oi_24h_weight",
    "oi_weight",
    "funding_weight",
    "bias_funding_weight",
    "bias_threshold",
)
_NON_NEGATIVE = ("squeeze_funding_premium", "squeeze_basis")


def scoring_param_problem(p: ScoringParams) -> tuple[str, str] | None:
    """The first key that would make the model crash or lie, and why; None if all is well.

    Scales are divisors (> 0), weights are shares (0..1, the three OI weights summing to
    at most 1 so oi_build stays within 0..1), and the bands are strictly ordered within
    1..100 so every band can be reached.
    """
    for name, value in vars(p).items():
        if isinstance(value, float) and not math.isfinite(value):
            return name, f"must be a finite number (got {value!r})"
    for name in _POSITIVE:
        value = getattr(p, name)
        if not value > 0:
            return name, f"must be greater than 0 (got {value!r})"
    for name in _SHARES:
        value = getattr(p, name)
        if not 0 <= value <= 1:
            return name, f"must be between 0 and 1 (got {value!r})"
    oi_sum = p.oi_1h_weight + p.oi_4h_weight + p.oi_24h_weight
    if oi_sum > 1 + 1e-9:
        weights = ("oi_1h_weight", "oi_4h_weight", "oi_24h_weight")
        changed = [w for w in weights if getattr(p, w) != getattr(DEFAULT_PARAMS, w)]
        return (
            (changed or ["oi_24h_weight"])[0],
            f"oi_1h_weight + oi_4h_weight + oi_24h_weight must be at most 1 (got {oi_sum:g})",
        )
    for name in _NON_NEGATIVE:
        value = getattr(p, name)
        if value < 0:
            return name, f"must be at least 0 (got {value!r})"
    bands = ("lean_from", "stretched_from", "stressed_from")
    order = "bands must rise strictly within 1..100: " + " < ".join(
        f"{b} = {getattr(p, b)}" for b in bands
    )
    if p.lean_from < 1:
        return "lean_from", order
    if p.stressed_from > 100:
        return "stressed_from", order
    for low, high in itertools.pairwise(bands):
        if not getattr(p, low) < getattr(p, high):
            # Blame the one the user changed, if only one of the pair differs from default.
            changed = [b for b in (low, high) if getattr(p, b) != getattr(DEFAULT_PARAMS, b)]
            return (changed[0] if len(changed) == 1 else low), order
    if not 0 <= p.crowded_score <= 100:
        return "crowded_score", f"must be between 0 and 100 (got {p.crowded_score})"
    return None


@dataclass(frozen=True, slots=True)
class ScoreInputs:
    """Per-symbol inputs. OI changes are percent; None means the window is unknown."""

    oi_1h: float | None
    oi_4h: float | None
    oi_24h: float | None
    funding_pct: float  # per funding interval, percent
    funding_interval_hours: float
    basis_pct: float


@dataclass(frozen=True, slots=True)
class Score:
    score: int
    band: Band
    bias: Bias
    regime: Regime
    funding_8h_pct: float
    funding_premium: float  # f8 - base
    oi_build: float  # 0..1
    funding_st: float  # 0..1
    basis_st: float  # 0..1
    bias_value: float  # b, -1..1


class InvalidInput(ValueError):
    """An input is NaN, infinite or out of its domain; such a symbol is not scored."""


def basis_pct(mark_price: float, index_price: float) -> float:
    """Perp premium over the index, in percent."""
    _require_finite(mark_price=mark_price, index_price=index_price)
    if index_price <= 0 or mark_price <= 0:
        raise InvalidInput("prices must be positive")
    return (mark_price - index_price) / index_price * 100.0


def funding_8h(funding_pct: float, interval_hours: float) -> float:
    """Normalise a per-interval funding rate to percent per 8 hours."""
    return funding_pct * 8.0 / interval_hours


def pct_change(old: float, new: float) -> float | None:
    """Percent change, or None when the old value cannot anchor a change."""
    if old <= 0 or not math.isfinite(old) or not math.isfinite(new):
        return None
    return (new - old) / old * 100.0


def band_for(score: int, params: ScoringParams = DEFAULT_PARAMS) -> Band:
    if score >= params.stressed_from:
        return Band.STRESSED
    if score >= params.stretched_from:
        return Band.STRETCHED
    if score >= params.lean_from:
        return Band.LEAN
    return Band.NEUTRAL


def band_floor(band: Band, params: ScoringParams = DEFAULT_PARAMS) -> int:
    return {
        Band.NEUTRAL: 0,
        Band.LEAN: params.lean_from,
        Band.STRETCHED: params.stretched_from,
        Band.STRESSED: params.stressed_from,
    }[band]


def band_ceiling(band: Band, params: ScoringParams = DEFAULT_PARAMS) -> int:
    return {
        Band.NEUTRAL: params.lean_from - 1,
        Band.LEAN: params.stretched_from - 1,
        Band.STRETCHED: params.stressed_from - 1,
        Band.STRESSED: 100,
    }[band]


def compute_score(inputs: ScoreInputs, params: ScoringParams = DEFAULT_PARAMS) -> Score:
    """Score one symbol. Raises InvalidInput for NaN/inf or a non-positive interval."""
    _require_finite(
        oi_1h=inputs.oi_1h,
        oi_4h=inputs.oi_4h,
        oi_24h=inputs.oi_24h,
        funding_pct=inputs.funding_pct,
        funding_interval_hours=inputs.funding_interval_hours,
        basis_pct=inputs.basis_pct,
    )
    if inputs.funding_interval_hours <= 0:
        raise InvalidInput("funding_interval_hours must be positive")

    p = params
    f8 = funding_8h(inputs.funding_pct, inputs.funding_interval_hours)
    _require_finite(funding_8h=f8)
    premium = f8 - p.funding_base_8h
    basis = inputs.basis_pct

    oi_build = (
        p.oi_1h_weight * _sat(_pos(inputs.oi_1h) / p.oi_1h_scale)
        + p.oi_4h_weight * _sat(_pos(inputs.oi_4h) / p.oi_4h_scale)
        + p.oi_24h_weight * _sat(_pos(inputs.oi_24h) / p.oi_24h_scale)
    )
    funding_st = _sat(abs(premium) / p.funding_scale)
    basis_st = _sat(abs(basis) / p.basis_scale)
    price_st = p.funding_weight * funding_st + (1 - p.funding_weight) * basis_st
    raw = 100.0 * (p.oi_weight * oi_build + (1 - p.oi_weight) * price_st)
    score = max(0, min(100, round(raw)))

    b = p.bias_funding_weight * _clip(f8 / p.bias_funding_unit) + (
        1 - p.bias_funding_weight
    ) * _clip(basis / p.bias_basis_unit)
    if b >= p.bias_threshold:
        bias = Bias.LONG
    elif b <= -p.bias_threshold:
        bias = Bias.SHORT
    else:
        bias = Bias.NEUTRAL

    return Score(
        score=score,
        band=band_for(score, p),
        bias=bias,
        regime=_regime(inputs, premium, basis, score, bias, p),
        funding_8h_pct=f8,
        funding_premium=premium,
        oi_build=oi_build,
        funding_st=funding_st,
        basis_st=basis_st,
        bias_value=b,
    )


def _regime(
    inputs: ScoreInputs, premium: float, basis: float, score: int, bias: Bias, p: ScoringParams
) -> Regime:
    building = _at_least(inputs.oi_4h, p.building_oi_4h) or _at_least(
        inputs.oi_24h, p.building_oi_24h
    )
    if building and premium >= p.squeeze_funding_premium and basis <= -p.squeeze_basis:
        return Regime.LONG_SQUEEZE
    if building and premium <= -p.squeeze_funding_premium and basis >= p.squeeze_basis:
        return Regime.SHORT_SQUEEZE
    if bias is Bias.LONG and score >= p.crowded_score:
        return Regime.LONG_CROWDED
    if bias is Bias.SHORT and score >= p.crowded_score:
        return Regime.SHORT_RAMP
    if _at_most(inputs.oi_4h, p.delever_oi_4h) or _at_most(inputs.oi_24h, p.delever_oi_24h):
        return Regime.DELEVERAGING
    if bias is Bias.LONG:
        return Regime.NET_LONG
    if bias is Bias.SHORT:
        return Regime.NET_SHORT
    return Regime.NEUTRAL


def _pos(x: float | None) -> float:
    # A missing window contributes nothing: a new listing must not raise false alarms.
    return 0.0 if x is None else max(x, 0.0)


def _sat(x: float) -> float:
    return math.tanh(x)


def _clip(x: float) -> float:
    return max(-1.0, min(1.0, x))


def _at_least(x: float | None, bound: float) -> bool:
    return x is not None and x >= bound


def _at_most(x: float | None, bound: float) -> bool:
    return x is not None and x <= bound


def _require_finite(**values: float | None) -> None:
    for name, value in values.items():
        if value is not None and not math.isfinite(value):
            raise InvalidInput(f"{name} is not a finite number: {value!r}")
