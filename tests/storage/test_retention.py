"""Retention (docs/operations.md): the DB stays bounded, and nothing still needed is pruned."""

from __future__ import annotations

from sqlalchemy import func, select

from bot.config import Settings
from bot.cycle.run import Scorer
from bot.markets.binance import BinanceAdapter
from bot.markets.binance import make_client as binance_client
from bot.storage.models import AlertEvent, Chat, Cycle, Delivery, OiSample, ScoreSnapshot

HOUR = 3_600_000
DAY = 24 * HOUR
NOW = 1_767_225_600_000


def snapshot(cycle_id: int, ts: int, symbol: str = "BTCUSDT") -> ScoreSnapshot:
    return ScoreSnapshot(
        cycle_id=cycle_id, exchange="binance", symbol=symbol, ts_ms=ts, score=10,
        band="neutral", bias="NEUTRAL", regime="Neutral", oi_contracts=1.0, oi_1h_pct=None,
        oi_4h_pct=None, oi_24h_pct=None, funding_pct=0.01, funding_interval_hours=8,
        funding_8h_pct=0.01, mark_price=1.0, index_price=1.0, basis_pct=0.0, oi_build=0.0,
        funding_st=0.0, basis_st=0.0, bias_value=0.0,
    )  # fmt: skip


def cycle(cycle_id: int, ts: int) -> Cycle:
    return Cycle(
        id=cycle_id, exchange="binance", started_ms=ts, finished_ms=ts, status="ok",
        symbols_attempted=1, symbols_fetched=1, symbols_failed=0,
    )  # fmt: skip


async def count(sessions, model) -> int:
    async with sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_prune_keeps_the_windows_and_pending_deliveries(sessions) -> None:
    # 40 days of one cycle every 6 hours, OI samples every hour for 4 days.
    async with sessions() as session, session.begin():
        session.add(Chat(id=1, type="private", created_ms=0))
        for i in range(40 * 4):
            ts = NOW - i * 6 * HOUR
            session.add(cycle(i + 1, ts))
        await session.flush()
        for i in range(40 * 4):
            session.add(snapshot(i + 1, NOW - i * 6 * HOUR))
        for h in range(4 * 24):
            session.add(
                OiSample(exchange="binance", symbol="BTCUSDT", ts_ms=NOW - h * HOUR,
                         contracts=1.0, source="live")
            )  # fmt: skip
        # Two old events (20 days): one delivered, one still pending.
        for eid, status in ((1, "sent"), (2, "pending")):
            session.add(
                AlertEvent(id=eid, cycle_id=100, exchange="binance", symbol=f"S{eid}",
                           kind="band", direction="up", score=70, bias="LONG",
                           regime="Long crowded", created_ms=NOW - 20 * DAY)
            )  # fmt: skip
            await session.flush()
            session.add(
                Delivery(event_id=eid, chat_id=1, cycle_id=100, status=status,
                         created_ms=NOW - 20 * DAY, next_attempt_ms=0)
            )  # fmt: skip

    settings = Settings(exchange={"venues": ["binance"], "base_url": "http://127.0.0.1:9"})  # type: ignore[arg-type]
    async with binance_client(settings.exchange) as client:
        scorer = Scorer(
            BinanceAdapter(client, settings.exchange), sessions, settings, clock=lambda: NOW / 1000
        )
        await scorer._prune(NOW)

    async with sessions() as session:
        oldest_snap = await session.scalar(select(func.min(ScoreSnapshot.ts_ms)))
        oldest_oi = await session.scalar(select(func.min(OiSample.ts_ms)))
        statuses = (await session.scalars(select(Delivery.status))).all()
    assert oldest_snap >= NOW - 30 * DAY
    assert await count(sessions, ScoreSnapshot) == 30 * 4 + 1  # the boundary cycle stays
    assert oldest_oi >= NOW - 48 * HOUR and await count(sessions, OiSample) == 49
    # The delivered event went; the pending one (and its event) stays until it is sent.
    assert statuses == ["pending"]
    assert await count(sessions, AlertEvent) == 1
    # Cycles older than the snapshot window went with their snapshots.
    assert await count(sessions, Cycle) == 30 * 4 + 1
