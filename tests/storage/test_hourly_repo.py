"""The hourly store (docs/scoring.md, "The hourly store"): one row per symbol per hour,
an upsert that a rewrite, a replica's late write or an old cycle cannot corrupt, a read
API for backtests, retention, and the percentile book that reads it."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.cycle import retention
from bot.cycle.percentiles import PercentileBook
from bot.scoring.formula import ScoreInputs, compute_score
from bot.scoring.percentile import MIN_HISTORY_HOURS, trailing_percentiles
from bot.scoring.result import CycleResult, SymbolScore
from bot.storage import hourly_repo

HOUR = 3_600_000
DAY = 24 * HOUR
T0 = 1_767_225_600_000  # 2026-01-01T00:00Z, on the hour


def scored(
    symbol: str,
    mark: float,
    *,
    funding: float = 0.01,
    oi_24h: float | None = 1.0,
    basis: float = 0.02,
    exchange: str = "binance",
) -> SymbolScore:
    inputs = ScoreInputs(0.1, 0.5, oi_24h, funding, 8, basis)
    return SymbolScore(
        exchange=exchange, symbol=symbol, score=compute_score(inputs), oi_contracts=1000.0,
        oi_1h_pct=0.1, oi_4h_pct=0.5, oi_24h_pct=oi_24h, funding_pct=funding,
        funding_interval_hours=8, mark_price=mark, index_price=mark * 0.999, basis_pct=basis,
    )  # fmt: skip


def cycle(started_ms: int, *scores: SymbolScore, exchange: str = "binance") -> CycleResult:
    return CycleResult(0, exchange, started_ms, started_ms, len(scores), scores=list(scores))


async def write(sessions: async_sessionmaker[AsyncSession], result: CycleResult) -> None:
    async with sessions() as session, session.begin():
        await hourly_repo.upsert_cycle(session, result)


def test_a_moment_belongs_to_the_hour_that_ends_after_it() -> None:
    assert hourly_repo.hour_of(T0) == T0  # on the hour: the end of the hour before
    assert hourly_repo.hour_of(T0 + 1) == T0 + HOUR
    assert hourly_repo.hour_of(T0 + HOUR - 1) == T0 + HOUR


async def test_cycles_of_one_hour_make_one_row_with_its_high_and_low(sessions) -> None:
    marks = [100.0, 104.0, 97.0, 101.0]  # cycles at :05, :20, :35, :50
    for k, mark in enumerate(marks):
        await write(sessions, cycle(T0 + (5 + 15 * k) * 60_000, scored("BTCUSDT", mark)))
    async with sessions() as session:
        rows = await hourly_repo.symbol_hours(session, "binance", "BTCUSDT", T0, T0 + 2 * HOUR)
    assert len(rows) == 1
    row = rows[0]
    assert row.hour_ms == T0 + HOUR
    assert (row.high, row.low, row.mark_price) == (104.0, 97.0, 101.0)  # close: the last
    assert row.last_ms == T0 + 50 * 60_000


async def test_rewrites_and_late_old_cycles_do_not_corrupt(sessions) -> None:
    late = cycle(T0 + 50 * 60_000, scored("BTCUSDT", 101.0, funding=0.03))
    early = cycle(T0 + 5 * 60_000, scored("BTCUSDT", 90.0, funding=0.01))
    await write(sessions, late)
    await write(sessions, late)  # the same cycle again (a retried transaction, a replica)
    await write(sessions, early)  # an older cycle written after it (a takeover)
    async with sessions() as session:
        (row,) = await hourly_repo.symbol_hours(session, "binance", "BTCUSDT", T0, T0 + 2 * HOUR)
    # The close values stay the latest cycle's; the old cycle's mark still counts as low.
    assert (row.mark_price, row.funding_pct, row.last_ms) == (101.0, 0.03, T0 + 50 * 60_000)
    assert (row.high, row.low) == (101.0, 90.0)


async def test_read_api_for_backtests(sessions) -> None:
    for h in range(3):
        started = T0 + h * HOUR + 60_000
        await write(sessions, cycle(started, scored("BTCUSDT", 100 + h), scored("ETHUSDT", 10.0)))
        await write(sessions, cycle(started, scored("BTC", 100.0, exchange="all"), exchange="all"))
    async with sessions() as session:
        btc = await hourly_repo.symbol_hours(session, "binance", "BTCUSDT", T0, T0 + 10 * HOUR)
        window = await hourly_repo.hours_between(session, T0 + 2 * HOUR, T0 + 4 * HOUR)
        binance = await hourly_repo.hours_between(session, T0, T0 + 10 * HOUR, "binance")
        spans = await hourly_repo.stored_spans(session)
    assert [r.hour_ms for r in btc] == [T0 + HOUR, T0 + 2 * HOUR, T0 + 3 * HOUR]
    assert [r.mark_price for r in btc] == [100.0, 101.0, 102.0]
    assert [(r.exchange, r.symbol, r.hour_ms) for r in window] == [
        ("all", "BTC", T0 + 2 * HOUR),
        ("all", "BTC", T0 + 3 * HOUR),
        ("binance", "BTCUSDT", T0 + 2 * HOUR),
        ("binance", "BTCUSDT", T0 + 3 * HOUR),
        ("binance", "ETHUSDT", T0 + 2 * HOUR),
        ("binance", "ETHUSDT", T0 + 3 * HOUR),
    ]
    assert {r.exchange for r in binance} == {"binance"} and len(binance) == 6
    assert [(s.exchange, s.rows, s.symbols) for s in spans] == [("all", 3, 1), ("binance", 6, 2)]
    assert spans[1].first_ms == T0 + HOUR and spans[1].last_ms == T0 + 3 * HOUR


async def test_retention_keeps_the_configured_days(sessions) -> None:
    now = T0 + 500 * DAY
    rows = [
        (*hourly_repo.cycle_rows(cycle(now - d * DAY - 1, scored("BTCUSDT", 1.0)))[0],)
        for d in (0, 100, 399, 401, 450)
    ]
    async with sessions() as session, session.begin():
        await hourly_repo.upsert_rows(session, rows)
    deleted = await retention.prune(sessions, Settings(), now)
    assert deleted["hourly_rows"] == 2
    async with sessions() as session:
        left = await hourly_repo.hours_between(session, 0, now + DAY)
    assert len(left) == 3
    short = Settings(scorer={"hourly_retention_days": 50})  # type: ignore[arg-type]
    assert (await retention.prune(sessions, short, now))["hourly_rows"] == 2


async def test_percentile_book_ranks_the_live_value_against_the_stored_window(sessions) -> None:
    hours = 20 * 24
    series = [((h * 37) % 101) / 1000 for h in range(hours)]  # funding % per 8h
    rows = [
        hourly_repo.cycle_rows(cycle(T0 + h * HOUR - 1, scored("BTCUSDT", 1.0, funding=f)))[0]
        for h, f in enumerate(series)
    ]
    async with sessions() as session, session.begin():
        await hourly_repo.upsert_rows(session, rows)
    book = PercentileBook(sessions, "binance")
    now = T0 + (hours - 1) * HOUR + 60_000  # a cycle in the hour after the last stored
    live = cycle(now, scored("BTCUSDT", 1.0, funding=0.05), scored("NEWUSDT", 1.0))
    await book.update(live)
    # The replay's number for the same value after the same stored hours.
    stamps = [hourly_repo.hour_of(T0 + h * HOUR - 1) for h in range(hours)]
    points: list[tuple[int, float | None]] = list(zip(stamps, series, strict=True))
    expected = trailing_percentiles([*points, (hourly_repo.hour_of(now), 0.05)])[-1]
    assert expected is not None and hours >= MIN_HISTORY_HOURS
    assert live.scores[0].funding_pctl_90d == expected
    assert live.scores[0].oi_24h_pctl_90d == 50  # every stored OI 24h equals it: the middle
    assert live.scores[1].funding_pctl_90d is None  # no history: unknown
    loaded = book.loaded_for
    await book.refresh(now + 60_000, ["BTCUSDT"])  # same hour: no second read
    assert book.loaded_for == loaded
