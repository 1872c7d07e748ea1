"""The cross-venue aggregate as stored rows: scored like one symbol, and each venue's
part (`aggregate_venues`). Pure: `bot.cycle.venues` fetches and writes."""

from __future__ import annotations

from collections.abc import Sequence

from bot.scoring.aggregate import ALL, Aggregate, VenueSample
from bot.scoring.formula import InvalidInput, ScoreInputs, ScoringParams, compute_score
from bot.scoring.result import SymbolScore

WINDOWS = ("1h", "4h", "24h")


def merge_samples(venue: str, parts: Sequence[VenueSample]) -> VenueSample | None:
    """Two contracts of one venue on one coin: OI summed, price, funding and basis
    weighted by OI in USD; a window known only if known for every contract."""
    coins = sum(p.oi_coins for p in parts)
    usd = sum(p.oi_usd for p in parts)
    if coins <= 0 or usd <= 0:
        return None

    def mean(values: list[tuple[float | None, float]]) -> float | None:
        known = [(v, w) for v, w in values if v is not None]
        total = sum(w for _, w in known)
        return sum(v * w for v, w in known) / total if total > 0 else None

    then: dict[str, float | None] = {}
    for w in WINDOWS:
        values = [p.oi_then.get(w) for p in parts]
        then[w] = None if any(v is None for v in values) else sum(v or 0.0 for v in values)
    return VenueSample(
        venue=venue,
        oi_coins=coins,
        mark_price=usd / coins,
        funding_8h_pct=mean([(p.funding_8h_pct, p.oi_usd) for p in parts]),
        basis_pct=mean([(p.basis_pct, p.oi_usd) for p in parts]),
        oi_then=then,
    )


def score_aggregate(agg: Aggregate, params: ScoringParams) -> SymbolScore | str:
    """The aggregate scored like one symbol: OI changes in coins, funding per 8h."""
    if agg.funding_8h_pct is None or agg.basis_pct is None or agg.mark_price is None:
        return "no funding or basis from any venue"
    changes = [agg.oi_change_pct.get(w) for w in WINDOWS]
    try:
        inputs = ScoreInputs(
            oi_1h=changes[0],
            oi_4h=changes[1],
            oi_24h=changes[2],
            funding_pct=agg.funding_8h_pct,
            funding_interval_hours=8,
            basis_pct=agg.basis_pct,
        )
        score = compute_score(inputs, params)
    except InvalidInput as exc:
        return f"invalid input: {exc}"
    return SymbolScore(
        exchange=ALL,
        symbol=agg.coin,
        score=score,
        oi_contracts=agg.oi_coins,
        oi_1h_pct=changes[0],
        oi_4h_pct=changes[1],
        oi_24h_pct=changes[2],
        funding_pct=agg.funding_8h_pct,
        funding_interval_hours=8,
        mark_price=agg.mark_price,
        index_price=agg.mark_price / (1.0 + agg.basis_pct / 100.0),
        basis_pct=agg.basis_pct,
    )


def venue_rows(
    cycle_id: int,
    ts_ms: int,
    aggregates: dict[str, Aggregate],
    contracts: dict[str, dict[str, list[str]]],
) -> list[dict[str, object]]:
    """`aggregate_venues` rows; `contracts`: coin -> venue -> its symbols."""
    rows: list[dict[str, object]] = []
    for coin, agg in aggregates.items():
        symbols = contracts[coin]
        base = {"cycle_id": cycle_id, "coin": coin, "ts_ms": ts_ms}
        for v in agg.venues:
            rows.append(
                {
                    **base,
                    "venue": v.venue,
                    "symbols": ",".join(symbols.get(v.venue, [])),
                    "missing": False,
                    "oi_coins": v.oi_coins,
                    "oi_usd": v.oi_usd,
                    "share": v.share,
                    "funding_8h_pct": v.funding_8h_pct,
                    "basis_pct": v.basis_pct,
                }
            )
        for venue in agg.missing:
            rows.append(
                {
                    **base,
                    "venue": venue,
                    "symbols": ",".join(symbols.get(venue, [])),
                    "missing": True,
                    "oi_coins": None,
                    "oi_usd": None,
                    "share": None,
                    "funding_8h_pct": None,
                    "basis_pct": None,
                }
            )
    return rows
