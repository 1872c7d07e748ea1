"""Market data, chats and outbox rows for the Telegram tests, inserted directly."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.storage.market_repo import insert_ignore
from bot.storage.models import AlertEvent, Chat, Cycle, Delivery, Instrument, ScoreSnapshot

EXCHANGE = "binance"
ADMIN_ID = 777

# (symbol, score, bias, regime, oi_1h, oi_24h, funding per interval, interval h, basis)
REFERENCE = [
    ("VELVETUSDT", 49, "LONG", "Net long bias building", -0.04, 14.4, 0.015, 8, 0.22),
    ("DAMUSDT", 48, "LONG", "Net long bias building", -0.45, 32.7, 0.019, 8, 0.42),
    ("SKYAIUSDT", 36, "LONG", "Net long bias building", -0.10, 3.3, 0.036, 8, 0.16),
    ("DOGEUSDT", 31, "LONG", "Net long bias building", -0.06, 32.8, 0.010, 8, -0.02),
    ("KASUSDT", 24, "LONG", "Net long bias building", -0.06, 11.9, 0.005, 4, -0.13),
    ("TRUMPUSDT", 23, "LONG", "Net long bias building", 13.75, 4.1, 0.005, 4, -0.01),
    ("1000SHIBUSDT", 22, "LONG", "Net long bias building", 0.92, 0.7, 0.010, 8, 0.01),
    ("RIVERUSDT", 22, "LONG", "Net long bias building", -3.69, -2.9, 0.059, 8, 0.35),
    ("BTCUSDT", 18, "SHORT", "Net short bias building", 0.30, 2.0, -0.004, 8, -0.05),
    ("ETHUSDT", 12, "NEUTRAL", "Neutral", None, None, 0.010, 8, 0.00),
    ("SOLUSDT", 64, "SHORT", "Short ramp", 4.0, 40.0, -0.050, 8, -0.30),
    ("BANANAS31USDT", 12, "LONG", "Net long bias building", 0.10, 0.3, 0.005, 4, 0.07),
]


def band_of(score: int) -> str:
    if score >= 60:
        return "stressed"
    if score >= 35:
        return "stretched"
    if score >= 15:
        return "lean"
    return "neutral"


def snapshot(
    symbol: str,
    score: int,
    bias: str = "LONG",
    regime: str = "Net long bias building",
    oi_1h: float | None = 0.1,
    oi_24h: float | None = 1.0,
    funding: float = 0.01,
    interval: int = 8,
    basis: float = 0.05,
    **extra: Any,
) -> dict[str, Any]:
    row = {
        "symbol": symbol,
        "score": score,
        "band": band_of(score),
        "bias": bias,
        "regime": regime,
        "oi_contracts": 1_000_000.0,
        "oi_1h_pct": oi_1h,
        "oi_4h_pct": None if oi_24h is None else oi_24h / 4 + (oi_1h or 0),
        "oi_24h_pct": oi_24h,
        "funding_pct": funding,
        "funding_interval_hours": interval,
        "funding_8h_pct": funding * 8 / interval,
        "mark_price": 1.0 + basis / 100,
        "index_price": 1.0,
        "basis_pct": basis,
        "oi_build": min(1.0, score / 100),
        "funding_st": 0.3,
        "basis_st": 0.4,
        "bias_value": 0.5,
    }
    row.update(extra)
    return row


def reference_rows() -> list[dict[str, Any]]:
    return [
        snapshot(s, sc, b, r, o1, o24, f, h, bs) for s, sc, b, r, o1, o24, f, h, bs in REFERENCE
    ]


async def add_cycle(
    sessions: async_sessionmaker[AsyncSession],
    rows: list[dict[str, Any]],
    *,
    ts_ms: int | None = None,
    status: str = "ok",
    failed: int = 0,
) -> int:
    ts_ms = ts_ms if ts_ms is not None else int(time.time() * 1000)
    async with sessions() as session, session.begin():
        await insert_ignore(
            session,
            Instrument,
            [
                {
                    "exchange": EXCHANGE,
                    "symbol": r["symbol"],
                    "base_asset": r["symbol"][:-4],
                    "quote_asset": "USDT",
                    "onboard_ms": 0,
                    "first_seen_ms": ts_ms,
                    "last_seen_ms": ts_ms,
                    "active": True,
                }
                for r in rows
            ],
        )
        cycle = Cycle(
            exchange=EXCHANGE,
            started_ms=ts_ms - 2000,
            finished_ms=ts_ms,
            status=status,
            symbols_attempted=len(rows) + failed,
            symbols_fetched=len(rows),
            symbols_failed=failed,
            weight_used=650,
            history_calls=0,
            events_created=0,
            errors="DOGEUSDT: open interest: timeout" if failed else None,
        )
        session.add(cycle)
        await session.flush()
        for r in rows:
            session.add(ScoreSnapshot(cycle_id=cycle.id, exchange=EXCHANGE, ts_ms=ts_ms, **r))
        return cycle.id


async def add_market(sessions: async_sessionmaker[AsyncSession], history: int = 3) -> int:
    """`history` cycles an hour apart; the latest is the reference screen."""
    now = int(time.time() * 1000)
    cycle_id = 0
    for i in range(history, 0, -1):
        rows = reference_rows()
        for r in rows:
            r["score"] = max(0, r["score"] - 3 * (i - 1))
            r["band"] = band_of(r["score"])
        cycle_id = await add_cycle(sessions, rows, ts_ms=now - (i - 1) * 3_600_000)
    return cycle_id


async def add_chat(
    sessions: async_sessionmaker[AsyncSession],
    chat_id: int,
    chat_type: str | None = None,
    **values: Any,
) -> None:
    chat_type = chat_type or ("private" if chat_id > 0 else "group")
    async with sessions() as session, session.begin():
        await insert_ignore(
            session,
            Chat,
            [
                {
                    "id": chat_id,
                    "type": chat_type,
                    "title": None,
                    "active": True,
                    "min_band": "stretched",
                    "direction": "both",
                    "created_ms": 0,
                    **values,
                }
            ],
        )


@dataclass
class Alert:
    symbol: str
    kind: str = "band"
    direction: str = "up"
    from_band: str | None = "lean"
    to_band: str | None = "stretched"
    score: int = 42
    bias: str = "LONG"
    regime: str = "Net long bias building"
    from_regime: str | None = None
    to_regime: str | None = None


async def add_deliveries(
    sessions: async_sessionmaker[AsyncSession],
    cycle_id: int,
    chat_ids: list[int],
    alerts: list[Alert],
    *,
    now_ms: int | None = None,
) -> list[int]:
    """One event per alert in `cycle_id`, delivered (pending) to every chat."""
    now_ms = now_ms if now_ms is not None else int(time.time() * 1000)
    for chat_id in chat_ids:
        await add_chat(sessions, chat_id)
    ids: list[int] = []
    async with sessions() as session, session.begin():
        for a in alerts:
            event = AlertEvent(
                cycle_id=cycle_id,
                exchange=EXCHANGE,
                symbol=a.symbol,
                kind=a.kind,
                direction=a.direction,
                from_band=a.from_band,
                to_band=a.to_band,
                from_regime=a.from_regime,
                to_regime=a.to_regime,
                score=a.score,
                bias=a.bias,
                regime=a.regime,
                created_ms=now_ms,
            )
            session.add(event)
            await session.flush()
            for chat_id in chat_ids:
                d = Delivery(
                    event_id=event.id,
                    chat_id=chat_id,
                    cycle_id=cycle_id,
                    status="pending",
                    attempts=0,
                    created_ms=now_ms,
                    next_attempt_ms=now_ms,
                )
                session.add(d)
                await session.flush()
                ids.append(d.id)
    return ids


async def empty_cycle(sessions: async_sessionmaker[AsyncSession]) -> int:
    return await add_cycle(sessions, [snapshot("BTCUSDT", 10)])
