"""The deployment's hourly store (bot/storage/hourly_repo.py) as rule rows, for `/rule
test`, `/rule add`, `/rule on` and `pressurebot replay --rule --from-db`.

A stored hour already holds what the live rule engine read at that hour's last cycle
(score, band, bias, regime, OI windows, funding, basis), so it is used as stored, not
scored again: that is what a rule would have seen here. Not stored, so computed or
unknown: `funding_8h_prev` (the symbol's previous stored hour), the own-percentile
fields (ranked over the stored hours before, as bot/cycle/percentiles.py ranks them live;
computed only for a rule that names one, as they cost about a second per 400k rows) and
`funding_next_8h` (unknown). What followed comes from the hour's mark and the mark's
high/low over its cycles, through the same code as `replay --evaluate`
(bot/replay/moves.py, `grid_moves`).

Bounded: at most `MAX_DAYS` days back, and at most `ROW_BUDGET` rows (fewer days for a
large universe; the reply says which period it covers), read in chunks packed straight
into arrays. `StoreHistory` keeps one exchange's rows for the hour they were read in:
the store only grows by one row per symbol an hour.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.alerts.rules.backtest import HistoryRows, RuleRows, merge
from bot.alerts.rules.fields import COLUMN_INDEX, COLUMN_NAMES, band_code, bias_code, regime_code
from bot.replay.moves import grid_moves
from bot.scoring.percentile import trailing_percentiles
from bot.storage import hourly_repo
from bot.storage.models import HourlyRow

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
MAX_DAYS = 400
ROW_BUDGET = 1_500_000  # ~160 bytes a row held: about 240 MB at most
MIN_DAYS = 14  # fewer stored days than this: the reply says the store is young
PERCENTILES = (
    ("funding_pctl_90d", "funding_8h"),
    ("oi_24h_pctl_90d", "oi_24h"),
    ("basis_pctl_90d", "basis"),
)
# Stored columns (hourly_repo.RULE_COLUMNS from index 2) -> rule fields.
_NUMERIC = {
    "score": 2,
    "oi_1h": 6,
    "oi_4h": 7,
    "oi_24h": 8,
    "funding": 9,
    "funding_interval": 10,
    "funding_8h": 11,
    "basis": 12,
}
_WORDS = {"band": 3, "bias": 4, "regime": 5}
_CODES: dict[str, Callable[[str], float]] = {
    "band": band_code,
    "bias": bias_code,
    "regime": regime_code,
}
Floats = npt.NDArray[np.float64]


def source_name(exchange: str) -> str:
    return f"hourly store ({exchange})"


async def read_store(
    session: AsyncSession, exchange: str, now_ms: int, symbol: str | None = None
) -> RuleRows:
    """The exchange's stored hours (one symbol's, if given) before the current hour."""
    t = HourlyRow
    span = (
        await session.execute(
            select(func.count(), func.count(func.distinct(t.symbol)), func.min(t.hour_ms))
            .where(t.exchange == exchange)
            .where(t.hour_ms >= now_ms - MAX_DAYS * DAY_MS)
        )
    ).one()
    count, symbols, first = int(span[0]), int(span[1]), span[2]
    if not count:
        return RuleRows(None, exchange, 0.0)
    end = now_ms - now_ms % HOUR_MS + HOUR_MS  # through the hour under way
    per_symbol = symbol is not None or count <= ROW_BUDGET
    days = MAX_DAYS if per_symbol else max(1, ROW_BUDGET // (24 * max(symbols, 1)))
    start = max(int(first), end - days * DAY_MS)
    parts = []
    async for chunk in hourly_repo.rule_inputs(session, exchange, start, end, symbol):
        parts.append(_pack(chunk))
    stored_days = (end - int(first)) / DAY_MS
    if not parts:
        return RuleRows(None, exchange, stored_days)
    rows = await asyncio.to_thread(_rows, parts, source_name(exchange))
    return RuleRows(rows, exchange, stored_days)


def _pack(chunk: Sequence[Any]) -> tuple[list[str], Floats]:
    """One chunk of stored rows -> (symbols, columns as float rows; words as codes)."""
    columns = list(zip(*chunk, strict=True))
    out = np.full((len(columns), len(chunk)), np.nan)
    for k in (1, *_NUMERIC.values(), 13, 14, 15):
        out[k] = np.array(columns[k], dtype=float)  # None -> NaN
    for name, k in _WORDS.items():
        codes = {w: _code(name, w) for w in set(columns[k])}
        out[k] = [codes[w] for w in columns[k]]
    return list(columns[0]), out


def _code(field: str, word: str) -> float:
    """A stored label as its rule code; NaN for a label this version does not know (a
    row kept for a year may carry a label since renamed)."""
    try:
        return _CODES[field](word)
    except KeyError:
        return np.nan


def _rows(parts: list[tuple[list[str], Floats]], source: str) -> HistoryRows:
    symbols = [s for names, _ in parts for s in names]
    raw = np.concatenate([cols for _, cols in parts], axis=1)
    n = raw.shape[1]
    ts = raw[1].astype(np.int64)
    values = np.full((len(COLUMN_NAMES), n), np.nan)
    for name, k in {**_NUMERIC, **_WORDS}.items():
        values[COLUMN_INDEX[name]] = raw[k]
    fwd, reach = np.full(n, np.nan), np.full(n, np.nan)
    funding = values[COLUMN_INDEX["funding_8h"]]
    prev = values[COLUMN_INDEX["funding_8h_prev"]]
    for lo, hi in symbol_runs(symbols):
        _, f24, up, down, _ = grid_moves(ts[lo:hi], raw[13, lo:hi], raw[14, lo:hi], raw[15, lo:hi])
        fwd[lo:hi], reach[lo:hi] = f24, np.fmax(up, down)
        prev[lo + 1 : hi] = funding[lo : hi - 1]  # its previous stored hour, as live
    return HistoryRows(symbols, ts, values, fwd, reach, (source,))


def symbol_runs(symbols: Sequence[str]) -> list[tuple[int, int]]:
    """[lo, hi) of each symbol's run in rows sorted by symbol."""
    runs, lo = [], 0
    for i in range(1, len(symbols) + 1):
        if i == len(symbols) or symbols[i] != symbols[lo]:
            runs.append((lo, i))
            lo = i
    return runs


def add_percentiles(rows: HistoryRows, source: int = 0) -> None:
    """Fill the own-percentile fields in place for the rows from `sources[source]` (the
    store's; the shipped rows carry theirs, bot/replay/rule_history.py)."""
    mine = rows.origins() == source
    for target, of in PERCENTILES:
        column, values = rows.values[COLUMN_INDEX[target]], rows.values[COLUMN_INDEX[of]]
        for lo, hi in symbol_runs(rows.symbols):
            at = np.flatnonzero(mine[lo:hi]) + lo  # one run: a symbol's stored hours
            if not len(at):
                continue
            points = zip(rows.ts_ms[at].tolist(), values[at].tolist(), strict=True)
            column[at] = [np.nan if r is None else r for r in trailing_percentiles(points)]


Shipped = Callable[[], Awaitable[HistoryRows | None]]


class StoreHistory:
    """What `/rule test` runs on: the store's rows of the chats' exchange merged with
    the shipped history (`shipped`, loaded once per process), store first (an hour in
    both is the store's; bot/alerts/rules/backtest.py, `merge`). Read and merged once
    per hour, at most once at a time; the percentile fields are added the first time a
    rule names one."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        clock: Callable[[], int],
        shipped: Shipped | None,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._shipped = shipped
        self._cache: dict[str, tuple[int, RuleRows, bool]] = {}
        self._lock = asyncio.Lock()

    async def __call__(self, exchange: str, percentiles: bool = False) -> RuleRows:
        async with self._lock:
            now = self._clock()
            hour = now // HOUR_MS
            cached = self._cache.get(exchange)
            if cached is None or cached[0] != hour:
                self._cache = {}  # one exchange held (the chats' default view): memory
                cached = (hour, await self._read(exchange, now), False)
            got = cached[1]
            if percentiles and not cached[2] and got.exchange is not None and got.rows:
                await asyncio.to_thread(add_percentiles, got.rows)
                cached = (hour, got, True)
            self._cache[exchange] = cached
            return got

    async def _read(self, exchange: str, now_ms: int) -> RuleRows:
        shipped = await self._shipped() if self._shipped is not None else None
        async with self._sessions() as session:
            stored = await read_store(session, exchange, now_ms)
        return await asyncio.to_thread(combine, stored, shipped)


def combine(stored: RuleRows, shipped: HistoryRows | None) -> RuleRows:
    """The store's rows first, then the shipped history's (renamed to the store's
    symbol names for the same coin, e.g. BTCUSDT -> BTC on the aggregate)."""
    if stored.rows is None or shipped is None or not len(shipped):
        return RuleRows(stored.rows or shipped, stored.exchange, stored.stored_days)
    names = {coin(s): s for s in set(stored.rows.symbols)}
    renamed = [names.get(coin(s), s) for s in shipped.symbols]
    if renamed != shipped.symbols:
        stamps = shipped.ts_ms.tolist()
        order = sorted(range(len(renamed)), key=lambda i: (renamed[i], stamps[i]))
        shipped = HistoryRows(
            [renamed[i] for i in order],
            shipped.ts_ms[order],
            shipped.values[:, order],
            shipped.fwd_24h[order],
            shipped.excursion_24h[order],
            shipped.sources,
            None if shipped.origin is None else shipped.origin[order],
        )
    return RuleRows(merge(stored.rows, shipped), stored.exchange, stored.stored_days)


def coin(symbol: str) -> str:
    return symbol.upper().removesuffix("USDT")
