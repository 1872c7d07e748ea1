"""Builders shared by the alert tests: scores, cycles, chats and subscriptions."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from bot.scoring.formula import Bias, Regime, Score, band_for
from bot.scoring.result import CycleResult, SymbolScore
from bot.storage.models import Chat, Cycle, Subscription

EXCHANGE = "binance"
T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
MIN = 60_000


def make_score(value: int, regime: Regime = Regime.NET_LONG, bias: Bias = Bias.LONG) -> Score:
    return Score(
        score=value,
        band=band_for(value),
        bias=bias,
        regime=regime,
        funding_8h_pct=0.01,
        funding_premium=0.0,
        oi_build=0.0,
        funding_st=0.0,
        basis_st=0.0,
        bias_value=0.5,
    )


def symbol_score(symbol: str, value: int, regime: Regime = Regime.NET_LONG) -> SymbolScore:
    return SymbolScore(
        exchange=EXCHANGE,
        symbol=symbol,
        score=make_score(value, regime),
        oi_contracts=1000.0,
        oi_1h_pct=0.0,
        oi_4h_pct=0.0,
        oi_24h_pct=0.0,
        funding_pct=0.01,
        funding_interval_hours=8,
        mark_price=100.0,
        index_price=100.0,
        basis_pct=0.0,
    )


async def add_cycle(
    session: AsyncSession,
    ts_ms: int,
    scores: dict[str, int | tuple[int, Regime]],
    *,
    failed: dict[str, str] | None = None,
    attempted: int | None = None,
) -> CycleResult:
    """Flush a Cycle row (alert events reference it) and describe it as the scorer would."""
    failed = failed or {}
    rows = [symbol_score(s, *(v if isinstance(v, tuple) else (v,))) for s, v in scores.items()]
    attempted = len(rows) + len(failed) if attempted is None else attempted
    cycle = Cycle(
        exchange=EXCHANGE,
        started_ms=ts_ms - 5_000,
        finished_ms=ts_ms,
        status="partial" if failed else "ok",
        symbols_attempted=attempted,
        symbols_fetched=len(rows),
        symbols_failed=len(failed),
    )
    session.add(cycle)
    await session.flush()
    return CycleResult(
        cycle_id=cycle.id,
        exchange=EXCHANGE,
        started_ms=ts_ms - 5_000,
        finished_ms=ts_ms,
        symbols_attempted=attempted,
        scores=rows,
        failed=failed,
    )


async def add_chat(session: AsyncSession, chat_id: int, **prefs: object) -> None:
    values: dict[str, object] = {
        "type": "private",
        "active": True,
        "min_band": "stretched",
        "direction": "both",
        "created_ms": T0,
    }
    values.update(prefs)
    session.add(Chat(id=chat_id, **values))
    await session.flush()


async def add_sub(
    session: AsyncSession, chat_id: int, symbol: str, kind: str, min_band: str | None = None
) -> None:
    session.add(
        Subscription(
            chat_id=chat_id,
            exchange=EXCHANGE,
            symbol=symbol,
            kind=kind,
            min_band=min_band,
            created_ms=T0,
        )
    )
    await session.flush()
