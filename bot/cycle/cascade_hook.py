"""Liquidation cascades in the scorer's cycle: read each scored symbol's last window of
liquidations, step the pure cascade state (bot/alerts/cascade.py), save it, and hand
the events to the alert engine, which stores and fans them out like every other event
(same cooldown, cap, quiet hours and outbox).

The same read gives the cycle's liquidation rule fields (`liq_*`, docs/rules.md): the
15-minute window (and the 1h one while a rule names a 1h field) is asked with the
cascade's, in the same two queries, and handed to the rule hook
(bot/cycle/rule_hook.py) as each symbol's values.

Evaluated once per cycle: a 15-minute window looked at every 5 minutes (the default
interval) catches a cascade at most one interval plus one bucket flush late, and being
in the cycle gives its events a cycle id, which is what makes them exactly-once (the
events' unique key) and what the outbox digests by. Costs three queries a cycle, plus
an hourly read of the 30-day normals.

The buckets come from the liquidation streams (bot/liquidations/); this layer may not
import them, so the reader is handed in (`CascadeSource`, wired in bot/service.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from bot.alerts.cascade import CascadeAsk, CascadeInput, CascadeReading, CascadeRules, run_cycle
from bot.alerts.rules.rows import liq_values
from bot.alerts.types import Event
from bot.config import Settings
from bot.scoring.aggregate import ALL
from bot.scoring.formula import Regime
from bot.scoring.result import CycleResult, SymbolScore
from bot.storage import cascade_repo, market_repo

MINUTE_MS = 60_000
# The windows of the liquidation rule fields (bot/alerts/rules/fields.py).
RULE_HOUR_MS, RULE_QUARTER_MS = 60 * MINUTE_MS, 15 * MINUTE_MS
LiqValues = dict[str, dict[str, float | None]]  # symbol -> its `liq_*` rule fields


class CascadeSource(Protocol):
    async def __call__(
        self,
        session: AsyncSession,
        now_ms: int,
        windows_ms: Sequence[int],
        asks: Mapping[str, CascadeAsk],
    ) -> dict[int, dict[str, CascadeReading]]: ...


def cascade_rules(settings: Settings) -> CascadeRules:
    a = settings.alerts
    return CascadeRules(
        oi_pct=a.cascade_oi_pct,
        x_normal=a.cascade_x_normal,
        window_minutes=a.cascade_window_minutes,
        min_coverage=a.cascade_min_coverage,
        exit_share=a.cascade_exit_share,
        confirm_cycles=a.confirm_cycles,
        flushed_cycles=a.cascade_flushed_cycles,
    )


class CascadeHook:
    def __init__(self, rules: CascadeRules, source: CascadeSource) -> None:
        self.rules = rules
        self.source = source

    async def events(
        self,
        session: AsyncSession,
        cycle: CycleResult,
        now_ms: int,
        regimes: Mapping[str, Regime],
        *,
        hour: bool = False,
    ) -> tuple[list[Event], LiqValues]:
        """Step every scored symbol not held this cycle; `regimes` are the confirmed
        regimes after this cycle's step (a squeeze the cascade may resolve). Also
        returns each of those symbols' liquidation rule fields: the 15-minute ones
        always (the cascade's window by default), the 1h ones only when `hour` (a rule
        names one: an hour of buckets costs more to sum than 15 minutes)."""
        exchange = cycle.exchange
        states = await cascade_repo.load(session, exchange)
        skip = cycle.hold_alert_state
        scores = [s for s in cycle.scores if s.exchange == exchange and s.symbol not in skip]
        asks = await _asks(session, cycle, scores)
        for symbol, st in states.items():
            if symbol in asks and st.side is not None:
                asks[symbol] = asks[symbol]._replace(
                    run_start_ms=st.window_start_ms, run_side=str(st.side)
                )
        window_ms = self.rules.window_minutes * MINUTE_MS
        wanted = (window_ms, RULE_QUARTER_MS, *((RULE_HOUR_MS,) if hour else ()))
        read = await self.source(session, now_ms, tuple(dict.fromkeys(wanted)), asks)
        readings = read[window_ms]
        hours, quarter = read.get(RULE_HOUR_MS, {}), read[RULE_QUARTER_MS]
        floor = self.rules.min_coverage
        values = {sym: liq_values(hours.get(sym), quarter.get(sym), floor) for sym in asks}
        inputs = [
            CascadeInput(
                s.symbol,
                readings[s.symbol],
                regimes.get(s.symbol, s.score.regime),
                s.score.score,
                s.score.bias,
            )
            for s in scores
            if s.symbol in readings
        ]
        outcome = run_cycle(
            states, inputs, cycle_id=cycle.cycle_id, now_ms=now_ms, rules=self.rules
        )
        await cascade_repo.save(session, exchange, outcome.states)
        return outcome.events, values


async def _asks(
    session: AsyncSession, cycle: CycleResult, scores: Sequence[SymbolScore]
) -> dict[str, CascadeAsk]:
    """Each symbol's (venue, symbol)s and OI in USD; a coin's from its aggregate parts."""
    exchange = cycle.exchange
    if exchange != ALL:
        return {
            s.symbol: CascadeAsk(((exchange, s.symbol),), s.oi_contracts * s.mark_price)
            for s in scores
        }
    parts = await market_repo.aggregate_parts(
        session, cycle.cycle_id, ("venue", "symbols", "oi_usd")
    )
    keys: dict[str, list[tuple[str, str]]] = {}
    oi: dict[str, float] = {}
    for coin, venue, symbols, oi_usd in parts:
        for symbol in filter(None, symbols.split(",")):
            keys.setdefault(coin, []).append((venue, symbol))
        oi[coin] = oi.get(coin, 0.0) + (oi_usd or 0.0)
    return {
        s.symbol: CascadeAsk(tuple(keys.get(s.symbol, ())), oi.get(s.symbol) or None)
        for s in scores
    }
