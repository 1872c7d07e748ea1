"""`pressurebot replay --from-db [--exchange X]`: a deployment's own hourly store
(bot/storage/hourly_repo.py) as the frame the CSV reader gives (`bot.replay.data`,
format `ohlc-mark`), so the same scoring, alert replay and `--evaluate` run on it.

A stored hour becomes a row stamped at its end: close and mark = the mark the hour's
last cycle read, spot = its index, funding = that cycle's rate and interval, OI = its
contracts, high / low = the mark's extremes over the hour's cycles (not traded highs and
lows, which the live scorer does not fetch: excursions read slightly smaller than on the
shipped file). The replay scores the rows again from these inputs with the configured
`[scoring]`, exactly as for a CSV. For the aggregate (`--exchange all`) OI is the coin's
summed OI, so its replayed OI windows come from one summed series, not from each venue
as live (docs/scoring.md, "Across venues").

Too little history is one line and exit 2: at least `MIN_DAYS` days between the first
and the last stored hour of the exchange.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.config import Settings
from bot.replay.data import FORMAT_OHLC_MARK, HOUR_MS, History, ReplayInputError, Row, format_time
from bot.storage import hourly_repo
from bot.storage.db import create_engine, describe_db_error, session_factory
from bot.storage.hourly_repo import HourlyRecord, StoredSpan
from bot.storage.sqlite_guard import sqlite_file

MIN_DAYS = 14
DAY_MS = 86_400_000


def store_engine(settings: Settings) -> AsyncEngine:
    """The deployment's database, read only: a SQLite file that is not there is an
    answer (nothing stored yet), not a new empty file beside the user's data."""
    path = sqlite_file(settings.database.url)
    if path is not None and not path.exists():
        raise ReplayInputError(
            f"no database at {path}: nothing is stored yet (`pressurebot run` writes a row "
            "per symbol an hour; set database.url to the service's database)"
        )
    return create_engine(settings.database)


async def read_store(
    settings: Settings,
    exchange: str | None,
    *,
    symbols: Collection[str] | None = None,
    start_ms: int | None = None,
    end_ms: int | None = None,
) -> tuple[History, str]:
    """The store's rows for one exchange as a History, and that exchange's name."""
    engine = store_engine(settings)
    try:
        sessions = session_factory(engine)
        async with sessions() as session:
            spans = await hourly_repo.stored_spans(session)
            span = _pick(spans, exchange, settings.exchange.default_view)
            _check_enough(span)
            records = await hourly_repo.hours_between(
                session,
                start_ms if start_ms is not None else span.first_ms,
                end_ms if end_ms is not None else span.last_ms + 1,
                span.exchange,
            )
    except SQLAlchemyError as exc:
        hint = " (run `pressurebot migrate`?)" if "hourly_rows" in str(exc) else ""
        raise ReplayInputError(describe_db_error(engine, exc) + hint) from None
    finally:
        await engine.dispose()
    wanted = set(symbols) if symbols else None
    return to_history(r for r in records if wanted is None or r.symbol in wanted), span.exchange


def to_history(records: Iterable[HourlyRecord]) -> History:
    """Stored hours (sorted by symbol, then hour) -> the CSV reader's frame."""
    rows: dict[str, list[Row]] = {}
    for r in records:
        rows.setdefault(r.symbol, []).append(
            Row(
                ts_ms=r.hour_ms,
                symbol=r.symbol,
                perp_close=r.mark_price,
                index_price=r.index_price,
                funding_rate=r.funding_pct / 100.0,
                open_interest=r.oi_contracts,
                funding_interval_h=r.funding_interval_hours,
                mark=r.mark_price,
                high=r.high,
                low=r.low,
            )
        )
    return History(dict(sorted(rows.items())), 0, FORMAT_OHLC_MARK)


def _pick(spans: list[StoredSpan], exchange: str | None, default: str) -> StoredSpan:
    by_name = {s.exchange: s for s in spans}
    if not spans:
        raise ReplayInputError(
            "the hourly store is empty: the scorer writes one row per symbol per hour "
            f"while it runs, and --from-db needs at least {MIN_DAYS} days of them"
        )
    if exchange is None and default in by_name:
        exchange = default
    elif exchange is None and len(spans) == 1:
        exchange = spans[0].exchange
    if exchange is None or exchange not in by_name:
        have = ", ".join(by_name)
        which = "pass --exchange" if exchange is None else f"no hourly rows for {exchange}"
        raise ReplayInputError(f"{which}: the hourly store holds {have}")
    return by_name[exchange]


def _check_enough(span: StoredSpan) -> None:
    days = (span.last_ms - span.first_ms + HOUR_MS) / DAY_MS  # hours stamped at their end
    if days < MIN_DAYS:
        raise ReplayInputError(
            f"the hourly store holds {days:.1f} days for {span.exchange} "
            f"({format_time(span.first_ms)} to {format_time(span.last_ms)}, "
            f"{span.symbols} symbol(s)); --from-db needs at least {MIN_DAYS}"
        )
