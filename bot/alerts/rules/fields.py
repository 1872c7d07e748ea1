"""The fields a rule may name: one entry per documented row key (docs/rules.md).

Every field is read as a float column so one cycle's rows become one matrix
(`bot.alerts.rules.compiler.Frame`). Words become numbers here: a band is its rank
(neutral 0 .. stressed 3, so `band >= stretched` is an ordinal comparison), a bias or a
regime its index in the lists below (only `==` and `!=` are meaningful for those). A
value that is unknown on a row (an OI window that could not be computed, a percentile
without enough history) is NaN, and no comparison holds on NaN: a rule never fires on
data a row does not have.

The liquidation fields (`liq_*`) are live only: read in the cycle from the liquidation
streams' buckets (bot/cycle/cascade_hook.py), unknown when the streams are off or the
window's stream coverage is under the cascade alert's floor, and absent from recorded
history, so a rule naming one cannot be backtested (`LIVE_ONLY`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from bot.scoring.formula import Band, Bias, Regime


class Unit(StrEnum):
    POINTS = "points"  # score 0..100
    PERCENT = "percent"  # percent units: 0.01 means 0.01%
    PERCENTILE = "percentile"  # 0..100 within the symbol's own history
    HOURS = "hours"
    USD = "USD"
    TIMES = "times"  # a multiple: 5 means five times
    SHARE = "share"  # 0..1
    WORD = "word"  # a category: compared with a word, not a number


@dataclass(frozen=True, slots=True)
class Field:
    name: str  # the rule language's name, and the column name of a Frame
    unit: Unit
    help: str
    words: tuple[str, ...] = ()  # WORD fields: the accepted words, in code order
    ordered: bool = False  # WORD fields: may be compared with < > (band)
    aliases: tuple[str, ...] = ()  # e.g. the `scan --json` key


def _word(text: str) -> str:
    """`Long squeeze risk` -> `long_squeeze_risk`: the word a rule writes."""
    return text.lower().replace(" ", "_")


BAND_WORDS = tuple(b.value for b in (Band.NEUTRAL, Band.LEAN, Band.STRETCHED, Band.STRESSED))
BIAS_WORDS = tuple(_word(b.value) for b in (Bias.NEUTRAL, Bias.LONG, Bias.SHORT))
REGIME_WORDS = tuple(_word(r.value) for r in Regime)

FIELDS: tuple[Field, ...] = (
    Field("score", Unit.POINTS, "the score, 0-100"),
    Field("band", Unit.WORD, "neutral < lean < stretched < stressed", BAND_WORDS, ordered=True),
    Field("bias", Unit.WORD, "neutral, long or short", BIAS_WORDS),
    Field("regime", Unit.WORD, "the regime label", REGIME_WORDS),
    Field("oi_1h", Unit.PERCENT, "open interest change over 1h, %", aliases=("oi_1h_pct",)),
    Field("oi_4h", Unit.PERCENT, "open interest change over 4h, %", aliases=("oi_4h_pct",)),
    Field("oi_24h", Unit.PERCENT, "open interest change over 24h, %", aliases=("oi_24h_pct",)),
    Field("funding", Unit.PERCENT, "funding per interval, %", aliases=("funding_pct",)),
    Field("funding_8h", Unit.PERCENT, "funding per 8h, %", aliases=("funding_8h_pct",)),
    Field("funding_interval", Unit.HOURS, "funding interval, hours"),
    Field("basis", Unit.PERCENT, "mark vs index, %", aliases=("basis_pct",)),
    # The symbol's funding per 8h at the cycle before (live: the scorer's previous cycle
    # on this exchange; history: the hour before). Unknown at the first cycle after a
    # start. What a sign flip compares (bot/alerts/rules/builtins.py).
    Field("funding_8h_prev", Unit.PERCENT, "funding per 8h at the previous cycle, %"),
    # The venue's published prediction of the next settlement, per 8h; unknown where the
    # venue publishes none (only OKX does: its `fundingRate`).
    Field(
        "funding_next_8h",
        Unit.PERCENT,
        "predicted next funding per 8h, % (OKX only)",
        aliases=("funding_next",),
    ),
    # The symbol's own percentiles (bot/scoring/percentile.py): NaN until two weeks of
    # hourly rows are stored, so a rule on them waits rather than firing on nothing.
    Field(
        "funding_pctl_90d",
        Unit.PERCENTILE,
        "funding per 8h vs its own last 90 days, 0-100",
        aliases=("funding_pctl",),
    ),
    Field(
        "oi_24h_pctl_90d",
        Unit.PERCENTILE,
        "OI 24h change vs its own last 90 days, 0-100",
        aliases=("oi_24h_pctl",),
    ),
    Field(
        "basis_pctl_90d",
        Unit.PERCENTILE,
        "basis vs its own last 90 days, 0-100",
        aliases=("basis_pctl",),
    ),
    # Liquidations (docs/rules.md, "Liquidation fields"): the windows end at the cycle's
    # time; each venue pushes a sample (Binance: one per symbol per second), not a total.
    # Unknown without the streams or under the coverage floor, except the coverage.
    Field("liq_1h_long_usd", Unit.USD, "longs liquidated over the last 1h, USD"),
    Field("liq_1h_short_usd", Unit.USD, "shorts liquidated over the last 1h, USD"),
    Field("liq_1h_oi_pct", Unit.PERCENT, "liquidations over 1h (both sides), % of OI"),
    Field("liq_1h_x_normal", Unit.TIMES, "liquidations over 1h vs its 30-day median hour, x"),
    Field("liq_coverage_1h", Unit.SHARE, "share of the last 1h the streams were live, 0-1"),
    Field("liq_15m_long_oi_pct", Unit.PERCENT, "longs liquidated over 15 min, % of OI"),
    Field("liq_15m_short_oi_pct", Unit.PERCENT, "shorts liquidated over 15 min, % of OI"),
)

BY_NAME: dict[str, Field] = {f.name: f for f in FIELDS}
for _f in FIELDS:
    for _alias in _f.aliases:
        BY_NAME[_alias] = _f
COLUMN_NAMES: tuple[str, ...] = tuple(f.name for f in FIELDS)
COLUMN_INDEX: dict[str, int] = {name: i for i, name in enumerate(COLUMN_NAMES)}
# Fields recorded history has no values of: no backtest can measure a rule naming one.
LIVE_ONLY: frozenset[str] = frozenset(n for n in COLUMN_NAMES if n.startswith("liq_"))
# Of those, the ones from the 1h window: the cycle sums an hour of buckets only for them.
LIQ_HOUR: frozenset[str] = frozenset(n for n in LIVE_ONLY if "_1h" in n)

# Words per WORD field -> their code, the value the column holds.
WORD_CODES: dict[str, dict[str, int]] = {
    f.name: {w: i for i, w in enumerate(f.words)} for f in FIELDS if f.unit is Unit.WORD
}
# Short forms people type: `regime == long_squeeze`, `regime == net_long`.
for _name, _code in list(WORD_CODES["regime"].items()):
    _short = _name.removesuffix("_risk").removesuffix("_bias_building")
    WORD_CODES["regime"].setdefault(_short, _code)


def band_code(band: str) -> float:
    return float(WORD_CODES["band"][band])


def bias_code(bias: str) -> float:
    return float(WORD_CODES["bias"][_word(bias)])


def regime_code(regime: str) -> float:
    return float(WORD_CODES["regime"][_word(regime)])
