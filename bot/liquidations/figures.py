"""Read each row's liquidation figures (bot/liquidations/windows.py) from storage.

One query sums the three windows of every symbol, one reads the last day's coverage;
the 30-day normals (hourly sums and covered hours) are read once an hour and kept.
Windows end at the moment asked for (a cycle's time), so a cycle's figures can be
cached with the cycle. `CascadeReader` is the cascade alert's reader, which runs inside
the cycle's write transaction and so never reads the normals there; its windows are also
the cycle's liquidation rule fields (bot/alerts/rules/rows.py, `liq_values`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.alerts.cascade import CascadeAsk, CascadeReading
from bot.liquidations.windows import (
    HOUR_MS,
    NORMAL_DAYS,
    WINDOWS,
    LiqFigures,
    LiqWindow,
    coverage_share,
    covered_hours,
    normals,
    window_start,
)
from bot.storage import liq_repo

Key = tuple[str, str]  # venue, symbol
Normals = dict[Key, dict[str, float | None]]
logger = logging.getLogger(__name__)


class LiqReader:
    def __init__(self) -> None:
        self._normals: tuple[int, Normals] | None = None

    async def read(
        self, session: AsyncSession, now_ms: int, oi_usd: Mapping[Key, float | None]
    ) -> dict[Key, LiqFigures]:
        """Figures for every (venue, symbol) in `oi_usd` (its OI in USD, or None)."""
        starts = {name: window_start(now_ms, length) for name, length in WINDOWS.items()}
        sums = await liq_repo.window_sums(session, list(starts.values()), now_ms + 1)
        live = await liq_repo.live_ms_by_minute(session, min(starts.values()), now_ms + 1)
        normal = await self._normals_at(session, now_ms)
        out: dict[Key, LiqFigures] = {}
        for key, oi in oi_usd.items():
            venue, symbol = key
            longs = sums.get((venue, symbol, "long"), [0.0] * len(starts))
            shorts = sums.get((venue, symbol, "short"), [0.0] * len(starts))
            windows = {
                name: LiqWindow(
                    longs[i], shorts[i], coverage_share(live.get(venue, {}), start, now_ms)
                )
                for i, (name, start) in enumerate(starts.items())
            }
            out[key] = LiqFigures(windows, oi, normal.get(key, {}))
        return out

    async def _normals_at(
        self, session: AsyncSession, now_ms: int
    ) -> dict[Key, dict[str, float | None]]:
        hour = now_ms - now_ms % HOUR_MS
        if self._normals is not None and self._normals[0] == hour:
            return self._normals[1]
        since = hour - NORMAL_DAYS * 24 * HOUR_MS
        hourly = await liq_repo.hourly_usd(session, since, hour)
        live = await liq_repo.live_ms_by_minute(session, since, hour)
        covered = {venue: covered_hours(minutes) for venue, minutes in live.items()}
        found = {
            key: normals(series, covered.get(key[0], set()), now_ms)
            for key, series in hourly.items()
        }
        self._normals = (hour, found)
        return found

    async def cascade_readings(
        self,
        session: AsyncSession,
        now_ms: int,
        windows_ms: Sequence[int],
        asks: Mapping[str, CascadeAsk],
        normal: Mapping[Key, Mapping[str, float | None]] | None = None,
    ) -> dict[int, dict[str, CascadeReading]]:
        """Each asked symbol (or coin)'s window ending now, for each length in
        `windows_ms` (the cascade alert's, bot/alerts/cascade.py, and the rule fields'
        15 min and 1h), all from the same two queries: its venues' sides summed,
        coverage the weakest venue's, the normal the 1h one scaled to the window (None
        unless every venue has one), and `run_usd` summed from each ask's
        `run_start_ms` (a cascade on)."""
        starts = [window_start(now_ms, w) for w in windows_ms]
        runs = sorted({a.run_start_ms for a in asks.values() if a.run_start_ms is not None})
        sums = await liq_repo.window_sums(session, [*starts, *runs], now_ms + 1)
        live = await liq_repo.live_ms_by_minute(session, min(starts), now_ms + 1)
        if normal is None:
            normal = await self._normals_at(session, now_ms)
        zeros = [0.0] * (len(starts) + len(runs))
        # Per venue, not per symbol: the same few numbers for every symbol of a venue.
        shares = {
            venue: [coverage_share(minutes, start, now_ms) for start in starts]
            for venue, minutes in live.items()
        }
        none = [0.0] * len(starts)
        out: dict[int, dict[str, CascadeReading]] = {w: {} for w in windows_ms}
        for name, ask in asks.items():
            long_usd, short_usd = [0.0] * len(starts), [0.0] * len(starts)
            run_usd = 0.0
            normals: list[float | None] = []
            coverage = [1.0 if ask.keys else 0.0] * len(starts)
            for venue, symbol in ask.keys:
                longs = sums.get((venue, symbol, "long"), zeros)
                shorts = sums.get((venue, symbol, "short"), zeros)
                covered = shares.get(venue, none)
                for i in range(len(starts)):
                    long_usd[i] += longs[i]
                    short_usd[i] += shorts[i]
                    coverage[i] = min(coverage[i], covered[i])
                if ask.run_start_ms is not None:
                    i = len(starts) + runs.index(ask.run_start_ms)
                    run_usd += longs[i] if ask.run_side == "long" else shorts[i]
                normals.append(normal.get((venue, symbol), {}).get("1h"))
            known = None if not normals or None in normals else sum(n or 0.0 for n in normals)
            for i, window_ms in enumerate(windows_ms):
                out[window_ms][name] = CascadeReading(
                    long_usd[i],
                    short_usd[i],
                    ask.oi_usd,
                    None if known is None else known * window_ms / HOUR_MS,
                    coverage[i],
                    run_usd if ask.run_start_ms is not None else None,
                )
        return out


class CascadeReader:
    """The cascade hook's source (bot/cycle/cascade_hook.py). The hook runs inside the
    cycle's write transaction, so only the window's two small queries run there. The
    30-day normals, a scan of every bucket kept (seconds on a full store), are read
    once an hour in a session of their own, in the background, never holding the write
    lock: meanwhile the previous hour's serve (a 30-day median barely moves in an hour),
    and before the first read none do (no normal: no cascade for that cycle or two)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions
        self._reader = LiqReader()
        self._refresh: asyncio.Task[None] | None = None

    async def __call__(
        self,
        session: AsyncSession,
        now_ms: int,
        windows_ms: Sequence[int],
        asks: Mapping[str, CascadeAsk],
    ) -> dict[int, dict[str, CascadeReading]]:
        normal = self.normals(now_ms)
        return await self._reader.cascade_readings(session, now_ms, windows_ms, asks, normal)

    def normals(self, now_ms: int) -> Normals:
        """The latest normals read; starts the hour's read when it is not done yet."""
        cached = self._reader._normals
        hour = now_ms - now_ms % HOUR_MS
        stale = cached is None or cached[0] != hour
        if stale and (self._refresh is None or self._refresh.done()):
            self._refresh = asyncio.create_task(self._read(now_ms), name="liq-normals")
        return cached[1] if cached is not None else {}

    async def _read(self, now_ms: int) -> None:
        try:
            async with self._sessions() as session:
                await self._reader._normals_at(session, now_ms)
        except Exception as exc:  # the next cycle tries again; cascades wait meanwhile
            logger.warning("liquidation normals not read: %s", exc)

    async def settled(self) -> None:
        """Wait for a read under way (tests; shutdown)."""
        if self._refresh is not None:
            await asyncio.shield(self._refresh)
