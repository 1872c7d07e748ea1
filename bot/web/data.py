"""What the dashboard's API serves, cached per cycle.

`/api/v1/top` is the same document as `pressurebot scan --json` (bot/views/market.py
`snapshot_to_json`): it only changes when a cycle lands, so it is serialised (and
gzipped) once per cycle id and the bytes are reused by every request until the next one.
The latest cycle id itself is reused for `[telegram] latest_cycle_cache_seconds` (one DB
read a second however many browsers poll), through the same `MarketCache` /top uses.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.liquidations.figures import LiqReader
from bot.liquidations.windows import per_interval
from bot.scoring.aggregate import ALL
from bot.scoring.explain import (
    REGIME_WHY,
    lookalike_sentence,
    regime_label,
    unusual_sentence,
    why_parts,
)
from bot.scoring.formula import band_ranges
from bot.storage import liq_repo, market_repo
from bot.views import market
from bot.views import positioning as ls_view
from bot.views.evidence import card_evidence
from bot.views.liquidation_fields import RowFields, stream_note, unknown
from bot.views.liquidations import row_fields, squeeze_phases
from bot.views.lookalike import StateLibrary, lookalike_for
from bot.views.market import MarketSnapshot
from bot.views.market_cache import MarketCache
from bot.views.unusual import tails
from bot.web.responses import Body, body_of

HOUR_MS = 3_600_000
# Longer names are not looked up (404): real contracts are short, this bounds the work.
MAX_SYMBOL_CHARS = 200
# The chart ranges the symbol page offers, in hours.
RANGES = {"24h": 24, "72h": 72, "30d": 720}
# Charts draw at most this many points per series: 30 days of 5-minute cycles (8640)
# thinned to every 12th cycle (hourly), still finer than a chart's width in pixels.
MAX_POINTS = 720
# Per-symbol chart series come from storage; keep the latest few per cycle in memory.
SERIES_CACHE = 64
SERIES_COLUMNS = (
    "score",
    "oi_contracts",
    "oi_1h_pct",
    "oi_4h_pct",
    "oi_24h_pct",
    "funding_8h_pct",
    "basis_pct",
    "mark_price",
)


def encode(doc: Any, etag: str) -> Body:
    raw = json.dumps(doc, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
    return body_of(raw, etag)


def candidates(typed: str, quotes: list[str]) -> list[str]:
    """The name as typed first (symbols are case-sensitive in storage), then BTCUSDT in
    capitals; btc also finds BTCUSDT under each quote asset."""
    name = typed.strip().upper().lstrip("$")
    out = [typed, name, *(name + q for q in quotes if not name.endswith(q))]
    return list(dict.fromkeys(out))


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat()


def _row_doc(
    row: market.MarketRow, exchange: str, snapshot: market.MarketSnapshot | None
) -> dict[str, Any]:
    """A row as `scan --json` prints it: `exchange`, and for the aggregate its venues."""
    doc: dict[str, Any] = {k: _clean(v) for k, v in market.row_to_json(row).items()}
    doc["exchange"] = exchange
    if exchange == "all":
        parts = snapshot.venues.get(row.symbol, []) if snapshot is not None else []
        doc["partial"] = market.is_partial(parts)
        doc["venues"] = [{k: _clean(v) for k, v in market.part_to_json(p).items()} for p in parts]
    return doc


def _clean(x: Any) -> Any:
    """JSON has no NaN or infinity: an unknown float is null, as in `scan --json`."""
    return None if isinstance(x, float) and not math.isfinite(x) else x


def thin(rows: list[tuple[Any, ...]], max_points: int = MAX_POINTS) -> list[tuple[Any, ...]]:
    """At most `max_points` rows, evenly spaced, always keeping the newest. Storage
    already thins by cycle; this bounds what a symbol's own gaps could leave over."""
    if len(rows) <= max_points:
        return rows
    step = math.ceil(len(rows) / max_points)
    kept = rows[::step]
    return kept if kept[-1] is rows[-1] else [*kept, rows[-1]]


class DashboardData:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        settings: Settings,
        lookalikes: Callable[[], StateLibrary | None] | None = None,
    ) -> None:
        self.sessions = sessions
        self.settings = settings
        # "The last 20 times it looked like this" (bot/views/lookalike.py): the states if
        # loaded, never waiting; computed once per (exchange, symbol, cycle time).
        self.lookalikes = lookalikes
        self._looks: dict[tuple[str, str, int], str] = {}
        self.exchange = settings.exchange.default_view
        self.market = MarketCache(
            sessions, self.exchange, cycle_ttl=settings.telegram.latest_cycle_cache_seconds
        )
        self._top: tuple[int, Body] | None = None
        self._top_lock = asyncio.Lock()
        self._series: OrderedDict[tuple[str, str, int], Body] = OrderedDict()
        self.liq_reader = LiqReader() if settings.liquidations.enabled else None
        self._liq_cache: tuple[tuple[str, int], dict[str, RowFields]] | None = None
        self._ls_cache: tuple[tuple[str, int], dict[str, RowFields]] | None = None

    def view(self, asked: str | None) -> str | None:
        """`?exchange=`: an enabled venue, or "all" (the aggregate) with several; absent,
        the default view. None for anything else."""
        exchange = asked if asked is not None else self.exchange
        venues = self.settings.exchange.venues
        if exchange in venues or (exchange == "all" and len(venues) > 1):
            return exchange
        return None

    def views_text(self) -> str:
        venues = self.settings.exchange.venues
        return ", ".join([*venues, "all"] if len(venues) > 1 else venues)

    async def resolve(self, typed: str, exchange: str) -> str | None:
        """The stored name `typed` stands for on `exchange` (see `candidates`), or None
        when none was ever scored there."""
        if not typed or len(typed) > MAX_SYMBOL_CHARS:
            return None
        async with self.sessions() as session:
            for name in candidates(typed, self.settings.exchange.quote_assets):
                if await market_repo.latest_snapshot(session, exchange, name) is not None:
                    return name
        return None

    async def latest(self) -> dict[str, Any]:
        """The tiny document pages poll to learn that a new cycle landed."""
        snapshot = await self.market.snapshot()
        if snapshot is None:
            return {"cycle_id": None, "generated_at": None}
        return {"cycle_id": snapshot.cycle_id, "generated_at": iso(snapshot.generated_ms)}

    async def top(self) -> Body | None:
        snapshot = await self.market.snapshot()
        if snapshot is None:
            return None
        cached = self._top
        if cached is not None and cached[0] == snapshot.cycle_id:
            return cached[1]
        async with self._top_lock:
            cached = self._top
            if cached is not None and cached[0] == snapshot.cycle_id:
                return cached[1]
            # 600 rows: a few ms of CPU, once per cycle, off the loop's other requests' way.
            liq, ls = await self._liq(snapshot), await self._ls(snapshot)
            phases = await self._phases(snapshot.exchange)
            doc = market.snapshot_to_json(snapshot, liq=liq, ls=ls, phases=phases)
            body = await asyncio.to_thread(encode, doc, f"top-{snapshot.cycle_id}")
            self._top = (snapshot.cycle_id, body)
            return body

    async def top_of(self, exchange: str, limit: int | None) -> Body | None:
        """Another venue than the default view's: read as asked (not cached)."""
        async with self.sessions() as session:
            snapshot = await market.latest_market(session, exchange)
        if snapshot is None:
            return None
        liq, ls = await self._liq(snapshot), await self._ls(snapshot)
        phases = await self._phases(exchange)
        doc = market.snapshot_to_json(snapshot, limit, liq, ls, phases)
        return encode(doc, f"top-{exchange}-{snapshot.cycle_id}-{limit}")

    async def top_limited(self, limit: int) -> Body | None:
        snapshot = await self.market.snapshot()
        if snapshot is None:
            return None
        liq, ls = await self._liq(snapshot), await self._ls(snapshot)
        phases = await self._phases(snapshot.exchange)
        doc = market.snapshot_to_json(snapshot, limit, liq, ls, phases)
        return encode(doc, f"top-{snapshot.cycle_id}-{limit}")

    async def symbol(self, symbol: str, range_key: str, exchange: str | None = None) -> Body | None:
        """The card and the chart series of one symbol on `exchange` (default: the
        default view); None when it was never scored there."""
        ex = exchange or self.exchange
        cycle_id = await self._cycle_id(ex)
        key = (f"{ex}/{symbol}", range_key, cycle_id)
        cached = self._series.get(key)
        if cached is not None:
            self._series.move_to_end(key)
            return cached
        async with self.sessions() as session:
            snap = await market_repo.latest_snapshot(session, ex, symbol)
            if snap is None:
                return None
            since = int(snap.ts_ms) - RANGES[range_key] * HOUR_MS
            rows = await market_repo.snapshot_series(
                session, ex, symbol, since, SERIES_COLUMNS, MAX_POINTS
            )
            snapshot = await self._snapshot_of(session, ex)
        row = market.row_from_snapshot(snap)
        liq = await self._liq(snapshot) if snapshot is not None else None
        doc = self._symbol_doc(row, snapshot, range_key, thin(rows), ex)
        doc["row"].update((liq or {}).get(row.symbol) or unknown())
        doc["row"]["squeeze_phase"] = (await self._phases(ex)).get(row.symbol)
        if snapshot is not None:
            doc["row"].update((await self._ls(snapshot)).get(row.symbol) or {})
        doc["liquidations"] = stream_note(liq)
        doc["series"].update(await self._liq_series(doc["series"]["t"], ex, symbol, snapshot))
        body = encode(doc, f"sym-{ex}-{symbol}-{range_key}-{cycle_id}")
        self._series[key] = body
        while len(self._series) > SERIES_CACHE:
            self._series.popitem(last=False)
        return body

    async def _liq_series(
        self, times: list[int], exchange: str, symbol: str, snapshot: MarketSnapshot | None
    ) -> dict[str, list[float] | None]:
        """The liquidations panel: longs and shorts liquidated in each chart interval
        (null without a stream). A coin sums the contracts of its venues."""
        if self.liq_reader is None or not times:
            return {"liq_long_usd": None, "liq_short_usd": None}
        keys = [(exchange, symbol)]
        if exchange == ALL and snapshot is not None:
            parts = snapshot.venues.get(symbol, [])
            keys = [(p.venue, s) for p in parts for s in filter(None, p.symbols.split(","))]
        # From one interval before the first point: the first point's own minutes.
        since = times[0] - (times[1] - times[0] if len(times) > 1 else HOUR_MS)
        async with self.sessions() as session:
            minutes = await liq_repo.side_minutes(session, keys, since, times[-1] + 1)
        longs, shorts = per_interval(times, minutes)
        return {"liq_long_usd": longs, "liq_short_usd": shorts}

    async def _liq(self, snapshot: MarketSnapshot) -> dict[str, RowFields] | None:
        """Each row's liquidation fields as of the snapshot (cached with it); None when
        this service runs no liquidation stream."""
        if self.liq_reader is None:
            return None
        key = (snapshot.exchange, snapshot.cycle_id)
        if self._liq_cache is not None and self._liq_cache[0] == key:
            return self._liq_cache[1]
        async with self.sessions() as session:
            fields = await row_fields(session, snapshot, self.liq_reader)
        self._liq_cache = (key, fields)
        return fields

    async def _ls(self, snapshot: MarketSnapshot) -> dict[str, RowFields]:
        """Each row's long/short positioning as of the snapshot (cached with it)."""
        key = (snapshot.exchange, snapshot.cycle_id)
        if self._ls_cache is not None and self._ls_cache[0] == key:
            return self._ls_cache[1]
        async with self.sessions() as session:
            fields = await ls_view.row_fields(session, snapshot)
        self._ls_cache = (key, fields)
        return fields

    async def _phases(self, exchange: str) -> dict[str, str]:
        """Each symbol's squeeze phase (`squeeze_phase`); a handful of rows at most."""
        async with self.sessions() as session:
            return await squeeze_phases(session, exchange)

    async def _cycle_id(self, exchange: str) -> int:
        """The newest cycle of `exchange`: the default view's comes cached (1 s)."""
        if exchange == self.exchange:
            snapshot = await self.market.snapshot()
            return snapshot.cycle_id if snapshot is not None else 0
        async with self.sessions() as session:
            cycle = await market_repo.latest_cycle(session, exchange)
        return cycle.id if cycle is not None else 0

    async def _snapshot_of(self, session: AsyncSession, exchange: str) -> MarketSnapshot | None:
        if exchange == self.exchange:
            return await self.market.snapshot()
        return await market.latest_market(session, exchange)

    def _lookalike(self, row: market.MarketRow, exchange: str) -> str:
        library = self.lookalikes() if self.lookalikes is not None else None
        if library is None:
            return ""
        key = (exchange, row.symbol, row.ts_ms)
        if key not in self._looks:
            if len(self._looks) > 1024:
                self._looks.clear()
            base = self.settings.scoring.funding_base_8h
            found = lookalike_for(library, row.symbol, row, base, exchange)
            if found is None:  # not cached: a store symbol's states may be read by now
                return ""
            self._looks[key] = lookalike_sentence(found)
        return self._looks[key]

    def _symbol_doc(
        self,
        row: market.MarketRow,
        snapshot: MarketSnapshot | None,
        range_key: str,
        rows: list[tuple[Any, ...]],
        exchange: str,
    ) -> dict[str, Any]:
        params = self.settings.scoring
        series: dict[str, list[Any]] = {"t": [r[0] for r in rows]}
        for i, name in enumerate(SERIES_COLUMNS, start=1):
            series[name] = [_clean(r[i]) for r in rows]
        return {
            "symbol": row.symbol,
            "exchange": exchange,
            "generated_at": iso(row.ts_ms),
            "cycle": None
            if snapshot is None
            else {
                "id": snapshot.cycle_id,
                "status": snapshot.status,
                "failed": snapshot.symbols_failed,
            },
            "row": _row_doc(row, exchange, snapshot),
            "regime_label": regime_label(row.regime),
            "regime_why": REGIME_WHY.get(row.regime, ""),
            "evidence": card_evidence(str(row.band)),
            "lookalike": self._lookalike(row, exchange),
            "unusual": unusual_sentence(tails(row)) or "",  # as on the Telegram card
            "why": [{k: _clean(v) for k, v in asdict(p).items()} for p in why_parts(row, params)],
            "bands": {str(b): list(r) for b, r in band_ranges(params).items()},
            "range": range_key,
            "series": series,
        }
