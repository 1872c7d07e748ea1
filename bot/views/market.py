"""Transport-agnostic market views: what `/top`, `/symbol` and `scan` show.

The CLI and the Telegram bot both render these records; neither queries the tables
itself (freqtrade's rpc/telegram split).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from bot.scoring.aggregate import ALL
from bot.scoring.formula import Bias, Regime
from bot.scoring.result import CycleResult
from bot.storage import market_repo as repo
from bot.storage.models import ScoreSnapshot
from bot.views.liquidation_fields import positioning_note, stream_note, unknown

RowFilter = Literal["all", "long", "short", "squeeze"]

# The row keys the README (`scan --json`) promises to other tools, in order.
JSON_ROW_KEYS = (
    "symbol",
    "score",
    "band",
    "bias",
    "regime",
    "oi_1h_pct",
    "oi_4h_pct",
    "oi_24h_pct",
    "funding_pct",
    "funding_interval_hours",
    "funding_8h_pct",
    "basis_pct",
)


@dataclass(frozen=True, slots=True)
class MarketRow:
    symbol: str
    score: int
    band: str
    bias: str
    regime: str
    oi_1h_pct: float | None
    oi_4h_pct: float | None
    oi_24h_pct: float | None
    funding_pct: float
    funding_interval_hours: int
    funding_8h_pct: float
    basis_pct: float
    mark_price: float
    index_price: float
    oi_contracts: float
    oi_build: float
    funding_st: float
    basis_st: float
    bias_value: float
    ts_ms: int
    # The symbol's own percentiles, 0-100 in its trailing 90 days; None: too little
    # history (bot/scoring/percentile.py). In `scan --json` and the API after the rest.
    funding_pctl_90d: int | None = None
    oi_24h_pctl_90d: int | None = None
    basis_pctl_90d: int | None = None


_ROW_FIELDS = tuple(f.name for f in fields(MarketRow))


@dataclass(frozen=True, slots=True)
class Summary:
    symbols: int
    avg_score: float
    long: int
    short: int
    neutral: int


@dataclass(frozen=True, slots=True)
class VenuePart:
    """One venue's part in a coin's aggregate; `missing`: it failed that cycle."""

    venue: str
    symbols: str
    missing: bool
    oi_coins: float | None
    oi_usd: float | None
    share: float | None
    funding_8h_pct: float | None
    basis_pct: float | None


_PART_FIELDS = tuple(f.name for f in fields(VenuePart))


@dataclass(frozen=True, slots=True)
class MarketSnapshot:
    cycle_id: int
    generated_ms: int
    status: str
    symbols_failed: int
    rows: list[MarketRow]
    summary: Summary
    exchange: str = "binance"
    # Aggregate snapshots ("all"): coin -> each venue's part, largest first.
    venues: dict[str, list[VenuePart]] = field(default_factory=dict)


def row_from_snapshot(s: ScoreSnapshot) -> MarketRow:
    return MarketRow(
        symbol=s.symbol,
        score=int(s.score),
        band=s.band,
        bias=s.bias,
        regime=s.regime,
        oi_1h_pct=s.oi_1h_pct,
        oi_4h_pct=s.oi_4h_pct,
        oi_24h_pct=s.oi_24h_pct,
        funding_pct=s.funding_pct,
        funding_interval_hours=int(s.funding_interval_hours),
        funding_8h_pct=s.funding_8h_pct,
        basis_pct=s.basis_pct,
        mark_price=s.mark_price,
        index_price=s.index_price,
        oi_contracts=s.oi_contracts,
        oi_build=s.oi_build,
        funding_st=s.funding_st,
        basis_st=s.basis_st,
        bias_value=s.bias_value,
        ts_ms=int(s.ts_ms),
        funding_pctl_90d=s.funding_pctl_90d,
        oi_24h_pctl_90d=s.oi_24h_pctl_90d,
        basis_pctl_90d=s.basis_pctl_90d,
    )


def summarize(rows: Sequence[MarketRow]) -> Summary:
    n = len(rows)
    return Summary(
        symbols=n,
        avg_score=round(sum(r.score for r in rows) / n, 1) if n else 0.0,
        long=sum(1 for r in rows if r.bias == Bias.LONG),
        short=sum(1 for r in rows if r.bias == Bias.SHORT),
        neutral=sum(1 for r in rows if r.bias == Bias.NEUTRAL),
    )


def filter_rows(rows: Iterable[MarketRow], which: RowFilter = "all") -> list[MarketRow]:
    if which == "long":
        return [r for r in rows if r.bias == Bias.LONG]
    if which == "short":
        return [r for r in rows if r.bias == Bias.SHORT]
    if which == "squeeze":
        return [r for r in rows if Regime(r.regime).is_squeeze]
    return list(rows)


async def latest_market(session: AsyncSession, exchange: str) -> MarketSnapshot | None:
    cycle = await repo.latest_cycle(session, exchange)
    if cycle is None:
        return None
    values = await repo.cycle_snapshot_values(session, cycle.id, _ROW_FIELDS)
    rows = [MarketRow(*v) for v in values]
    parts = await aggregate_parts(session, cycle.id) if exchange == ALL else {}
    return MarketSnapshot(
        cycle_id=cycle.id,
        generated_ms=cycle.started_ms,
        status=cycle.status,
        symbols_failed=cycle.symbols_failed,
        rows=rows,
        summary=summarize(rows),
        exchange=exchange,
        venues=parts,
    )


async def aggregate_parts(session: AsyncSession, cycle_id: int) -> dict[str, list[VenuePart]]:
    out: dict[str, list[VenuePart]] = {}
    for coin, *part in await repo.aggregate_parts(session, cycle_id, _PART_FIELDS):
        out.setdefault(coin, []).append(VenuePart(*part))
    return out


def unstored_snapshot(result: CycleResult) -> MarketSnapshot:
    """A cycle as computed but never stored (`scan` beside a running scorer): the same
    rows, in the same order, as `latest_market` would read back."""
    rows = [
        MarketRow(
            symbol=s.symbol,
            score=int(s.score.score),
            band=s.score.band.value,
            bias=s.score.bias.value,
            regime=s.score.regime.value,
            oi_1h_pct=s.oi_1h_pct,
            oi_4h_pct=s.oi_4h_pct,
            oi_24h_pct=s.oi_24h_pct,
            funding_pct=s.funding_pct,
            funding_interval_hours=s.funding_interval_hours,
            funding_8h_pct=s.score.funding_8h_pct,
            basis_pct=s.basis_pct,
            mark_price=s.mark_price,
            index_price=s.index_price,
            oi_contracts=s.oi_contracts,
            oi_build=s.score.oi_build,
            funding_st=s.score.funding_st,
            basis_st=s.score.basis_st,
            bias_value=s.score.bias_value,
            ts_ms=result.started_ms,
            funding_pctl_90d=s.funding_pctl_90d,
            oi_24h_pctl_90d=s.oi_24h_pctl_90d,
            basis_pctl_90d=s.basis_pctl_90d,
        )
        for s in result.scores
    ]
    rows.sort(key=lambda r: (-r.score, r.symbol))
    return MarketSnapshot(
        cycle_id=0,
        generated_ms=result.started_ms,
        status=result.status,
        symbols_failed=len(result.failed),
        rows=rows,
        summary=summarize(rows),
        exchange=result.exchange,
    )


async def symbol_detail(
    session: AsyncSession, exchange: str, symbol: str, history_hours: int = 72
) -> tuple[MarketRow | None, list[repo.HistoryPoint]]:
    snap = await repo.latest_snapshot(session, exchange, symbol)
    if snap is None:
        return None, []
    history = await symbol_history(session, exchange, symbol, int(snap.ts_ms), history_hours)
    return row_from_snapshot(snap), history


async def symbol_history(
    session: AsyncSession, exchange: str, symbol: str, newest_ms: int, history_hours: int
) -> list[repo.HistoryPoint]:
    """The chart's points up to the row stamped `newest_ms`, the same as `symbol_detail`
    gives for that row: charts drawn ahead from a cycle's rows skip re-reading them."""
    since = newest_ms - history_hours * 3_600_000
    return await repo.score_history(session, exchange, symbol, since)


async def known_symbols(session: AsyncSession, exchange: str) -> list[str]:
    return await repo.active_symbols(session, exchange)


# ---------------------------------------------------------------- JSON (README)


def row_to_json(row: MarketRow) -> dict[str, Any]:
    """The promised row keys first, in their documented order, then the extras."""
    d = asdict(row)
    keys = JSON_ROW_KEYS
    out: dict[str, Any] = {k: d.pop(k) for k in keys}
    d.pop("ts_ms")
    out.update(d)
    return out


def part_to_json(p: VenuePart) -> dict[str, Any]:
    return asdict(p)


def is_partial(parts: Sequence[VenuePart]) -> bool:
    """An aggregate row is partial when a venue it counts failed that cycle."""
    return any(p.missing for p in parts)


def snapshot_to_json(
    snapshot: MarketSnapshot,
    limit: int | None = None,
    liq: Mapping[str, Mapping[str, float | None]] | None = None,
    ls: Mapping[str, Mapping[str, float | None]] | None = None,
    phases: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """README's `scan --json`: every row names its `exchange`; aggregate rows ("all",
    symbol = coin) add `partial` and `venues`, each venue's OI (coins, USD), share,
    funding, basis, or `missing` when it failed that cycle. `liq`: each row's
    liquidation fields (bot/views/liquidations.py); None: this process has no stream,
    the fields are null and `liquidations` says so. `ls`: each row's positioning
    (bot/views/positioning.py); None: null. `phases`: `squeeze_phase` per symbol
    ("under_way" | "flushed", from the cascade states, bot/views/liquidations.py);
    a symbol without one, or None (scan: no stream), is null."""
    rows = snapshot.rows if limit is None else snapshot.rows[:limit]
    out_rows = []
    for r in rows:
        row = row_to_json(r)
        row.update((liq or {}).get(r.symbol) or unknown())
        row.update((ls or {}).get(r.symbol) or {})
        row["squeeze_phase"] = (phases or {}).get(r.symbol)
        row["exchange"] = snapshot.exchange
        if snapshot.exchange == ALL:
            parts = snapshot.venues.get(r.symbol, [])
            row["partial"] = is_partial(parts)
            row["venues"] = [part_to_json(p) for p in parts]
        out_rows.append(row)
    s = snapshot.summary
    return {
        "generated_at": datetime.fromtimestamp(snapshot.generated_ms / 1000, UTC).isoformat(),
        "summary": {
            "symbols": s.symbols,
            "avg_score": s.avg_score,
            "long": s.long,
            "short": s.short,
            "neutral": s.neutral,
        },
        "cycle": {
            "id": snapshot.cycle_id,
            "status": snapshot.status,
            "failed": snapshot.symbols_failed,
        },
        "liquidations": stream_note(liq),
        "positioning": positioning_note(ls),
        "rows": out_rows,
    }
