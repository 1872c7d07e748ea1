"""The alert engine as the scorer's cycle hook: state -> events -> outbox, one transaction.

`AlertEngine.on_cycle` matches `bot.cycle.CycleHook`. The scorer calls it inside the
cycle's transaction, after the Cycle row is flushed; it never commits. A whole cycle
costs a fixed handful of queries: load states, save states, insert events (+ read back
their ids), one joined subscription query, one grouped cooldown query, insert deliveries.
"""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncSession

from bot.alerts.engine import Direction, Event, EventKind, Hysteresis, run_cycle
from bot.alerts.fanout import (
    DeliveryStatus,
    FanoutRules,
    PlannedDelivery,
    cooldown_ms,
    default_subscriber_wants,
    needed_subscriptions,
    plan_deliveries,
)
from bot.config import Settings
from bot.cycle import CycleResult
from bot.scoring import Band
from bot.storage import alert_repo

logger = logging.getLogger("bot.alerts")


def format_alert_line(event: Event) -> str:
    """The headless log line; stable, parsed by end-to-end tests. One of:

    ALERT BTCUSDT lean -> stressed score 72 LONG Long crowded
    ALERT BTCUSDT squeeze enter Long squeeze risk score 66 LONG
    ALERT BTCUSDT squeeze exit Long squeeze risk score 40 LONG
    """
    if event.kind is EventKind.BAND:
        return (
            f"ALERT {event.symbol} {event.from_band} -> {event.to_band} "
            f"score {event.score} {event.bias} {event.regime}"
        )
    # Enter names the squeeze now on; exit names the squeeze that ended.
    which = event.to_regime if event.direction is Direction.ENTER else event.from_regime
    return (
        f"ALERT {event.symbol} squeeze {event.direction} {which} score {event.score} {event.bias}"
    )


class AlertEngine:
    """Per-cycle alerting. `log_events=True` is headless mode (no Telegram token): each
    event the default subscriber would receive is also logged as one INFO line.
    `deliver=False` (headless too) stores events but queues no deliveries."""

    def __init__(
        self, settings: Settings, *, log_events: bool = False, deliver: bool = True
    ) -> None:
        a = settings.alerts
        self.rules = Hysteresis(
            points=a.hysteresis_points,
            confirm_cycles=a.confirm_cycles,
            params=settings.scoring,
        )
        self.fanout_rules = FanoutRules(
            default_min_band=Band(a.default_min_band),
            market_min_band=Band(a.default_market_min_band),
            cooldown_minutes=a.cooldown_minutes,
        )
        self.min_fetched_share = a.min_fetched_share
        self.log_events = log_events
        self.deliver = deliver

    async def on_cycle(self, session: AsyncSession, cycle: CycleResult) -> int:
        """Advance state, store new events and their deliveries; return events created."""
        if cycle.fetched_share < self.min_fetched_share:
            # Partial data must not alert, and must not move state either: the next good
            # cycle then compares against the last trustworthy picture.
            logger.warning(
                "cycle %d fetched %d of %d symbols (%.0f%% < %.0f%%): no alerts this cycle",
                cycle.cycle_id,
                cycle.symbols_fetched,
                cycle.symbols_attempted,
                100 * cycle.fetched_share,
                100 * self.min_fetched_share,
            )
            return 0
        # Event time is the cycle's, not the wall clock's: replays and tests agree.
        now_ms = cycle.finished_ms or cycle.started_ms
        exchange = cycle.exchange

        states, stored = await alert_repo.load_states(session, exchange)
        outcome = run_cycle(
            states,
            ((s.symbol, s.score) for s in cycle.scores if s.exchange == exchange),
            cycle_id=cycle.cycle_id,
            now_ms=now_ms,
            rules=self.rules,
            skip=cycle.hold_alert_state,
        )
        await alert_repo.save_states(session, exchange, outcome.states, stored)
        created = await alert_repo.insert_events(
            session, exchange, cycle.cycle_id, now_ms, outcome.events
        )
        if not created:
            return 0

        planned: list[PlannedDelivery] = []
        symbols = {event.symbol for _, event in created}
        needed = needed_subscriptions(event for _, event in created)
        subs, chats = (
            await alert_repo.subscriptions_for(session, exchange, needed)
            if self.deliver
            else ([], {})
        )
        if subs:
            window = max(cooldown_ms(chat, self.fanout_rules) for chat in chats.values())
            last = (
                await alert_repo.last_alert_times(session, exchange, symbols, now_ms - window)
                if window > 0
                else {}
            )
            planned = plan_deliveries(created, subs, chats, last, now_ms, self.fanout_rules)
            await alert_repo.insert_deliveries(session, cycle.cycle_id, now_ms, planned)

        suppressed = sum(p.status is DeliveryStatus.SUPPRESSED for p in planned)
        logger.debug(
            "cycle %d: %d events, %d deliveries (%d suppressed)",
            cycle.cycle_id,
            len(created),
            len(planned),
            suppressed,
        )
        if self.log_events:
            for _, event in created:
                if default_subscriber_wants(event, self.fanout_rules):
                    logger.info("%s", format_alert_line(event))
        return len(created)
