"""The alert engine as the scorer's cycle hook: state -> events -> outbox, one transaction.

`AlertEngine.in_cycle_transaction` matches `bot.cycle.run.CycleHook`. The scorer
calls it inside the cycle's transaction, after the Cycle row is flushed; it never
commits. A whole cycle costs a fixed handful of queries: load states, save states,
insert events (+ read back their ids), one joined subscription query, one grouped
cooldown query, one grouped daily-cap count, insert deliveries, mark held chats; plus
one query for chats owed a catch-up (and, when some are due, a few more to build it).
"""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncSession

from bot.alerts.fanout import (
    FanoutRules,
    cooldown_ms,
    default_subscriber_wants,
    needed_subscriptions,
    plan_deliveries,
    plan_rule_deliveries,
    suppression,
)
from bot.alerts.held import SymbolNow, apply_daily_cap, catchup_symbols, daily_cap, holds, over_cap
from bot.alerts.rules.fields import LIQ_HOUR
from bot.alerts.transitions import Hysteresis, run_cycle
from bot.alerts.types import (
    MARKET,
    ChatPrefs,
    DeliveryKind,
    DeliveryStatus,
    Direction,
    Event,
    EventKind,
    PlannedDelivery,
    Sub,
    SubKind,
    SymbolState,
)
from bot.config import Settings
from bot.cycle.cascade_hook import CascadeHook, CascadeSource, LiqValues, cascade_rules
from bot.cycle.rule_hook import RuleCycle, RuleHook
from bot.scoring.formula import Band, Score
from bot.scoring.result import CycleResult
from bot.storage import alert_repo, catchup_repo, cooldown_repo

logger = logging.getLogger("bot.alerts")
# How far back a chat's local day can start (25 h on a DST day), for the daily cap.
DAY_LOOKBACK_MS = 26 * 3_600_000


def format_alert_line(event: Event) -> str:
    """The headless log line; stable, parsed by end-to-end tests. One of:

    ALERT BTCUSDT lean -> stressed score 72 LONG Long crowded
    ALERT BTCUSDT squeeze enter Long squeeze risk score 66 LONG
    ALERT BTCUSDT squeeze exit Long squeeze risk score 40 LONG
    ALERT BTCUSDT liquidations enter long score 66 LONG
    """
    if event.kind is EventKind.LIQUIDATIONS:
        return (
            f"ALERT {event.symbol} liquidations {event.direction} {event.side} "
            f"score {event.score} {event.bias}"
        )
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
        self,
        settings: Settings,
        *,
        log_events: bool = False,
        deliver: bool = True,
        cascades: CascadeSource | None = None,
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
            daily_cap=a.daily_cap,
            default_kinds=tuple(SubKind(k) for k in a.default_kinds),
        )
        self.min_fetched_share = a.min_fetched_share
        self.log_events = log_events
        # Headless, the default subscriber follows the default view: with several
        # venues, the cross-venue aggregate ("all"), not each venue's contracts too.
        self.logged_exchange = settings.exchange.default_view
        self.deliver = deliver
        self.rule_hook = RuleHook(exit_cycles=a.confirm_cycles)
        # Liquidation cascades, from the buckets `cascades` reads (None: no streams).
        self.cascade = (
            CascadeHook(cascade_rules(settings), cascades) if cascades is not None else None
        )

    async def in_cycle_transaction(self, session: AsyncSession, cycle: CycleResult) -> int:
        """Advance state, store new events and their deliveries; return events created."""
        if not self._trustworthy(cycle):
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
        events = outcome.events
        liq: LiqValues | None = None  # the rules' liquidation fields: read with cascades
        if self.cascade is not None:
            regimes = {s: st.regime for s, st in {**states, **outcome.states}.items()}
            # The 1h window costs an hour of buckets: summed only while a rule needs it.
            hour = self.deliver and bool(
                LIQ_HOUR & await self.rule_hook.fields_in_use(session, cycle)
            )
            cascades, liq = await self.cascade.events(session, cycle, now_ms, regimes, hour=hour)
            events = [*events, *cascades]
        created = await alert_repo.insert_events(session, exchange, cycle.cycle_id, now_ms, events)
        # Before this cycle's fan-out, so its catch-ups see only earlier held alerts.
        scores = {s.symbol: s.score for s in cycle.scores if s.exchange == exchange}
        await self._catch_up(session, cycle, now_ms, {**states, **outcome.states}, scores)
        # Rules push to their own chat: nothing to do without deliveries (headless).
        replayed = any(st.last_cycle_id >= cycle.cycle_id for st in states.values())
        rules = (
            await self.rule_hook.advance(session, cycle, replayed=replayed, liq=liq)
            if self.deliver
            else None
        )
        fires = rules.fires if rules is not None else []
        planned: list[PlannedDelivery] = []
        if self.deliver and (created or fires):
            planned = await self._fan_out(session, cycle, now_ms, created, rules)
        if rules is not None:
            await self.rule_hook.finish(session, rules, planned)
        if created:
            self._log_created(cycle, created, planned)
        return len(created) + len(fires)

    def _trustworthy(self, cycle: CycleResult) -> bool:
        """Partial data must not alert, and must not move state either: the next good
        cycle then compares against the last trustworthy picture."""
        if cycle.fetched_share >= self.min_fetched_share:
            return True
        logger.warning(
            "cycle %d fetched %d of %d symbols (%.0f%% < %.0f%%): no alerts this cycle",
            cycle.cycle_id,
            cycle.symbols_fetched,
            cycle.symbols_attempted,
            100 * cycle.fetched_share,
            100 * self.min_fetched_share,
        )
        return False

    async def _fan_out(
        self,
        session: AsyncSession,
        cycle: CycleResult,
        now_ms: int,
        created: list[tuple[int, Event]],
        rules: RuleCycle | None = None,
    ) -> list[PlannedDelivery]:
        """Plan and store one delivery per (event, subscribed chat) and per rule fire:
        cooldown, then one daily cap over both, then the chats whose pushes were held so
        a catch-up follows later."""
        exchange = cycle.exchange
        fires = rules.fires if rules is not None else []
        symbols = {event.symbol for _, event in created} | {f.symbol for f in fires}
        subs: list[Sub] = []
        chats: dict[int, ChatPrefs] = {}
        if created:
            needed = needed_subscriptions(event for _, event in created)
            subs, chats = await alert_repo.subscriptions_for(session, exchange, needed)
        if rules is not None:
            for chat_id, prefs in rules.chats.items():
                chats.setdefault(chat_id, prefs)
        if not subs and not fires:
            return []
        window = max(cooldown_ms(chat, self.fanout_rules) for chat in chats.values())
        last = (
            await cooldown_repo.last_alert_times(session, exchange, symbols, now_ms - window)
            if window > 0
            else {}
        )
        planned = plan_deliveries(created, subs, chats, last, now_ms, self.fanout_rules)
        planned += plan_rule_deliveries(fires, chats, last, now_ms, self.fanout_rules)
        capped = {
            p.chat_id
            for p in planned
            if p.status is DeliveryStatus.PENDING
            and daily_cap(chats[p.chat_id], self.fanout_rules) > 0
        }
        if capped:
            pushes = await cooldown_repo.day_pushes(
                session, capped, now_ms - DAY_LOOKBACK_MS, cycle.cycle_id
            )
            planned = apply_daily_cap(planned, chats, pushes, now_ms, self.fanout_rules)
        await alert_repo.insert_deliveries(session, cycle.cycle_id, now_ms, planned)
        held = holds(planned)
        if held:
            await catchup_repo.mark_held(session, held, now_ms)
        return planned

    def _log_created(
        self,
        cycle: CycleResult,
        created: list[tuple[int, Event]],
        planned: list[PlannedDelivery],
    ) -> None:
        suppressed = sum(p.status is DeliveryStatus.SUPPRESSED for p in planned)
        logger.debug(
            "cycle %d: %d events, %d deliveries (%d suppressed)",
            cycle.cycle_id,
            len(created),
            len(planned),
            suppressed,
        )
        # Headless mode: the log is the only place alerts show up.
        if self.log_events and cycle.exchange == self.logged_exchange:
            for _, event in created:
                if default_subscriber_wants(event, self.fanout_rules):
                    logger.info("%s", format_alert_line(event))

    async def _catch_up(
        self,
        session: AsyncSession,
        cycle: CycleResult,
        now_ms: int,
        current: dict[str, SymbolState],
        scores: dict[str, Score],
    ) -> int:
        """Chats whose alerts were held (mute, quiet hours, daily cap) and that can be
        pushed again get one catch-up in this cycle's digest: the current state of each
        followed symbol whose state changed meanwhile. The catch-up rows and the cleared
        marker commit with the cycle, so a restart can neither lose nor repeat it.
        Returns the number of chats caught up."""
        ready = await self._ready_for_catch_up(session, cycle, now_ms)
        if not ready:
            return 0
        exchange = cycle.exchange
        held_rows, fallback = await catchup_repo.held_alerts(session, exchange, ready)
        follows = await catchup_repo.subscribed_symbols(session, exchange, ready)
        now_states = {s: SymbolNow(st.band.value, st.regime.value) for s, st in current.items()}
        per_chat: dict[int, list[str]] = {}
        for chat_id in ready:
            mine = follows.get(chat_id, set())
            changed = catchup_symbols(held_rows.get(chat_id, ()), now_states)
            symbols = [s for s in changed if s in mine or MARKET in mine]
            if symbols:
                per_chat[chat_id] = symbols
        wanted = sorted({s for symbols in per_chat.values() for s in symbols})
        state_rows = _state_rows(wanted, current, scores, fallback)
        ids = await catchup_repo.insert_state_events(
            session, exchange, cycle.cycle_id, now_ms, state_rows
        )
        planned = [
            PlannedDelivery(ids[s], chat_id, DeliveryStatus.PENDING, None, DeliveryKind.CATCHUP)
            for chat_id, symbols in per_chat.items()
            for s in symbols
            if s in ids
        ]
        await alert_repo.insert_deliveries(session, cycle.cycle_id, now_ms, planned)
        await catchup_repo.clear_held(session, ready)
        caught_up = len({p.chat_id for p in planned})
        if caught_up:
            logger.debug("cycle %d: catch-up for %d chats", cycle.cycle_id, caught_up)
        return caught_up

    async def _ready_for_catch_up(
        self, session: AsyncSession, cycle: CycleResult, now_ms: int
    ) -> dict[int, int]:
        """Held chats that may be pushed again now (no mute or quiet hours, under the
        daily cap), each with the time its hold began."""
        held = await catchup_repo.held_chats(session)
        rules = self.fanout_rules
        unblocked = {
            chat_id: (prefs, since)
            for chat_id, (prefs, since) in held.items()
            if suppression(prefs, None, now_ms, rules) is None
        }
        if not unblocked:
            return {}
        with_cap = [c for c, (prefs, _) in unblocked.items() if daily_cap(prefs, rules) > 0]
        since_ms = now_ms - DAY_LOOKBACK_MS
        pushes = (
            await cooldown_repo.day_pushes(session, with_cap, since_ms, cycle.cycle_id)
            if with_cap
            else {}
        )
        return {
            chat_id: since
            for chat_id, (prefs, since) in unblocked.items()
            if not over_cap(prefs, pushes.get(chat_id, ()), now_ms, rules)
        }


def _state_rows(
    symbols: list[str],
    current: dict[str, SymbolState],
    scores: dict[str, Score],
    fallback: dict[str, tuple[int, str]],
) -> dict[str, tuple[str, str, int, str]]:
    """(band, regime, score, bias) per symbol for the catch-up: this cycle's score, else
    the last stored one; a symbol with neither is left out rather than shown blank."""
    rows: dict[str, tuple[str, str, int, str]] = {}
    for symbol in symbols:
        st = current[symbol]
        score = scores.get(symbol)
        if score is not None:
            value, bias = score.score, str(score.bias)
        elif symbol in fallback:
            value, bias = fallback[symbol]
        else:
            continue
        rows[symbol] = (st.band.value, st.regime.value, value, bias)
    return rows
