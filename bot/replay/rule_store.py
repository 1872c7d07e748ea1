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
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import case, func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.alerts.rules.backtest import HistoryRows, RuleRows, merge
from bot.alerts.rules.fields import COLUMN_INDEX, COLUMN_NAMES, band_code, bias_code, regime_code
from bot.replay.moves import grid_moves
from bot.scoring.formula import Band, Bias, Regime
from bot.scoring.percentile import trailing_percentiles
from bot.storage.models import HourlyRow

logger = logging.getLogger(__name__)
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
# Per stored hour, read as one float row: SQL NULL comes back as `_NULL` (then NaN) and
# the labels as their rule codes (a label this version does not know, say one renamed
# since the row was written a year ago, as NaN), so a symbol's hours become one float
# array with no per-value Python work.
_NULL = -1.0e300
_FIELDS = (
    "score",
    "band",
    "bias",
    "regime",
    "oi_1h",
    "oi_4h",
    "oi_24h",
    "funding",
    "funding_8h",
    "funding_interval",
    "basis",
)
_SOURCE = {
    "score": "score",
    "oi_1h": "oi_1h_pct",
    "oi_4h": "oi_4h_pct",
    "oi_24h": "oi_24h_pct",
    "funding": "funding_pct",
    "funding_interval": "funding_interval_hours",
    "funding_8h": "funding_8h_pct",
    "basis": "basis_pct",
}
_LABELS: dict[str, tuple[type[StrEnum], Callable[[str], float]]] = {
    "band": (Band, band_code),
    "bias": (Bias, bias_code),
    "regime": (Regime, regime_code),
}
Floats = npt.NDArray[np.float64]


def _read_columns() -> list[Any]:
    t = HourlyRow
    out: list[Any] = [t.hour_ms]
    for name in _FIELDS:
        if name in _LABELS:
            enum, code = _LABELS[name]
            words = {w.value: code(w.value) for w in enum}
            out.append(case(words, value=getattr(t, name), else_=_NULL))
        else:
            out.append(func.coalesce(getattr(t, _SOURCE[name]), _NULL))
    return [*out, t.mark_price, t.high, t.low]


def source_name(exchange: str) -> str:
    return f"hourly store ({exchange})"


async def read_store(
    session: AsyncSession, exchange: str, now_ms: int, symbol: str | None = None
) -> RuleRows:
    """The exchange's stored hours (one symbol's, if given) through the hour under way,
    bounded (module doc), one symbol at a time (a primary-key range each)."""
    end = now_ms - now_ms % HOUR_MS + HOUR_MS  # stamps up to the hour under way
    spans = await _spans(session, exchange, end - MAX_DAYS * DAY_MS, end, symbol)
    if not spans:
        return RuleRows(None, exchange, 0.0)
    stored_days = (end - min(first for _, first in spans.values())) / DAY_MS
    start = end - MAX_DAYS * DAY_MS
    if sum(n for n, _ in spans.values()) > ROW_BUDGET:
        start = end - max(1, ROW_BUDGET // (24 * len(spans))) * DAY_MS
        spans = await _spans(session, exchange, start, end, symbol)
    n = sum(count for count, _ in spans.values())
    names: list[str] = []
    ts = np.zeros(n, dtype=np.int64)
    values = np.full((len(COLUMN_NAMES), n), np.nan)
    moves = np.full((2, n), np.nan)  # fwd_24h, the excursion
    t, lo, columns = HourlyRow, 0, _read_columns()
    conn = await session.connection()  # Core rows: the ORM's per-row work costs 3x
    for name in sorted(spans):
        query = (
            select(*columns)
            .where(t.exchange == exchange, t.symbol == name)
            .where(t.hour_ms >= start, t.hour_ms < end)
            .order_by(t.hour_ms)
        )
        got = [tuple(r) for r in (await conn.execute(query)).all()]  # numpy reads tuples fast
        hi = lo + len(got)  # == spans' count, unless a cycle wrote a row since
        if hi > n or not got:
            continue
        _place(np.array(got, dtype=float), ts[lo:hi], values[:, lo:hi], moves[:, lo:hi])
        names += [name] * len(got)
        lo = hi
    if not lo:
        return RuleRows(None, exchange, stored_days)
    rows = HistoryRows(
        names, ts[:lo], values[:, :lo], moves[0, :lo], moves[1, :lo], (source_name(exchange),)
    )
    return RuleRows(rows, exchange, stored_days)


async def _spans(
    session: AsyncSession, exchange: str, start: int, end: int, symbol: str | None
) -> dict[str, tuple[int, int]]:
    """symbol -> (stored hours in [start, end), the first one's stamp)."""
    t = HourlyRow
    query = (
        select(t.symbol, func.count(), func.min(t.hour_ms))
        .where(t.exchange == exchange, t.hour_ms >= start, t.hour_ms < end)
        .group_by(t.symbol)
    )
    if symbol is not None:
        query = query.where(t.symbol == symbol)
    return {s: (int(n), int(first)) for s, n, first in (await session.execute(query)).all()}


def _place(block: Floats, ts: npt.NDArray[np.int64], values: Floats, moves: Floats) -> None:
    """One symbol's read rows (hour, fields, mark, high, low) into the output slices."""
    block[block == _NULL] = np.nan
    ts[:] = block[:, 0].astype(np.int64)
    for k, name in enumerate(_FIELDS, 1):
        values[COLUMN_INDEX[name]] = block[:, k]
    funding = values[COLUMN_INDEX["funding_8h"]]
    values[COLUMN_INDEX["funding_8h_prev"], 1:] = funding[:-1]  # its previous stored hour
    mark, high, low = block[:, -3], block[:, -2], block[:, -1]
    _, fwd, up, down, _ = grid_moves(ts, mark, high, low)
    moves[0], moves[1] = fwd, np.fmax(up, down)


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


@dataclass
class _Entry:
    hour: int
    got: RuleRows
    ranked: bool = False  # the percentile fields are filled


class StoreHistory:
    """What `/rule test` runs on: the store's rows of the chats' exchange merged with
    the shipped history (`shipped`, loaded once per process), store first (an hour in
    both is the store's; bot/alerts/rules/backtest.py, `merge`).

    Reading a large store takes seconds (600 symbols x 90 days: bench/rule_backtest.py),
    so only the first market-wide test waits for it; in a later hour a test is answered
    from the rows read before while a fresh read runs in the background and replaces
    them (an answer is at most one hour stale). A rule on one symbol with nothing read
    yet reads just that symbol. The percentile fields are ranked the first time a rule
    names one. One exchange is held (the chats' default view), and only while tests
    come: the rows (about 200 MB for 600 symbols x 90 days) are dropped after
    `IDLE_SECONDS` without one, so a deployment at rest does not carry them."""

    IDLE_SECONDS = 900.0

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        clock: Callable[[], int],
        shipped: Shipped | None,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._shipped = shipped
        self._entry: dict[str, _Entry] = {}
        self._lock = asyncio.Lock()
        self._refresh: asyncio.Task[None] | None = None
        self._drop: asyncio.TimerHandle | None = None

    async def __call__(
        self, exchange: str, percentiles: bool = False, symbol: str | None = None
    ) -> RuleRows:
        self._forget_when_idle()
        now = self._clock()
        entry = self._entry.get(exchange)
        try:
            if entry is None and symbol is not None:
                return await self._rank(await self._read(exchange, now, symbol), percentiles)
            if entry is None:
                async with self._lock:  # the first read, once: every other caller waits
                    entry = self._entry.get(exchange)
                    if entry is None:
                        entry = _Entry(now // HOUR_MS, await self._read(exchange, now))
                        self._entry = {exchange: entry}
        except SQLAlchemyError as exc:  # the database is down: the shipped history alone
            logger.warning("hourly store unreadable for /rule test: %s", type(exc).__name__)
            return RuleRows(await self._shipped() if self._shipped is not None else None)
        if entry.hour != now // HOUR_MS and (self._refresh is None or self._refresh.done()):
            self._refresh = asyncio.get_running_loop().create_task(self._reload(exchange))
        if percentiles and not entry.ranked:
            async with self._lock:
                if not entry.ranked:
                    await self._rank(entry.got, True)
                    entry.ranked = True
        return entry.got

    def _forget_when_idle(self) -> None:
        if self._drop is not None:
            self._drop.cancel()
        loop = asyncio.get_running_loop()
        self._drop = loop.call_later(self.IDLE_SECONDS, self._forget)

    def _forget(self) -> None:
        self._entry = {}

    async def refreshed(self) -> None:
        """Wait for a background re-read under way, if any (tests, shutdown)."""
        if self._refresh is not None:
            await asyncio.shield(self._refresh)

    async def _reload(self, exchange: str) -> None:
        now = self._clock()
        try:
            got = await self._read(exchange, now)
        except Exception:  # the rows read before still answer; the next hour retries
            logger.warning("re-reading the hourly store for /rule test failed", exc_info=True)
            return
        self._entry = {exchange: _Entry(now // HOUR_MS, got)}

    async def _rank(self, got: RuleRows, percentiles: bool) -> RuleRows:
        rows, exchange = got.rows, got.exchange
        # Only when store rows lead (the shipped rows carry their percentiles).
        if percentiles and rows is not None and rows.sources[0] == source_name(exchange or ""):
            await asyncio.to_thread(add_percentiles, rows)
        return got

    async def _read(self, exchange: str, now_ms: int, symbol: str | None = None) -> RuleRows:
        shipped = await self._shipped() if self._shipped is not None else None
        async with self._sessions() as session:
            stored = await read_store(session, exchange, now_ms, symbol)
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
