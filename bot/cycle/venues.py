"""Several venues in one cycle, and one score per coin across them.

Each venue keeps its own `Scorer` (bot/cycle/run.py): they fetch concurrently and each
stores its own cycle, keyed (venue, symbol) as with Binance alone. A venue that fails
(ExchangeError, VenueBlocked) stores a failed cycle and never stops the others.

Then, for each coin listed on two or more venues that count (`VenueHealth`), an
aggregate row: exchange "all", symbol the coin, from `bot.scoring.aggregate` with each
venue's OI anchors taken from that venue's own samples (never a summed series), scored
by `scoring.py` and stored in its own cycle with one `aggregate_venues` row per venue
(docs/scoring.md, "Across venues"). A coin whose venue failed this cycle (the whole
venue, or that contract) is partial: stored and shown, its alert state held.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.cycle.percentiles import PercentileBook
from bot.cycle.run import (
    DEFAULT_FUNDING_INTERVAL_HOURS,
    SNAPSHOT_COLUMNS,
    CycleHook,
    LeaseLost,
    Scorer,
    VenueFetch,
    snapshot_values,
)
from bot.cycle.stored_universe import StoredUniverses
from bot.markets.base import (
    ExchangeError,
    ExchangeUnavailable,
    Instrument,
    PremiumIndex,
    VenueBlocked,
)
from bot.scoring.aggregate import (
    ALL,
    Aggregate,
    VenueHealth,
    VenueSample,
    aggregate,
    basis_pct,
    funding_8h_pct,
    to_coins,
)
from bot.scoring.aggregate_score import WINDOWS, merge_samples, score_aggregate, venue_rows
from bot.scoring.result import CycleResult
from bot.storage import bulk, hourly_repo, market_repo
from bot.storage.models import AggregateVenue, Cycle, ScoreSnapshot

logger = logging.getLogger("bot.cycle.run")


@dataclass(slots=True)
class CoinInput:
    """One coin's samples this cycle, and the venues that should have answered but did
    not (whole venue failed, or its contract failed or has unknown windows)."""

    samples: list[VenueSample] = field(default_factory=list)
    symbols: dict[str, list[str]] = field(default_factory=dict)  # venue -> its contracts
    failed: list[str] = field(default_factory=list)
    held: list[str] = field(default_factory=list)


class VenueScorers:
    """The scorer for several venues; the scorer loop drives it like one `Scorer`."""

    def __init__(
        self,
        scorers: Sequence[Scorer],
        sessions: async_sessionmaker[AsyncSession],
        settings: Settings,
        in_cycle_transaction: CycleHook | None = None,
        clock: Callable[[], float] = time.time,
        fence: Callable[[AsyncSession], Awaitable[bool]] | None = None,
    ) -> None:
        self._scorers = {s.exchange: s for s in scorers}
        self._sessions = sessions
        self._settings = settings
        self._hook = in_cycle_transaction
        self._clock = clock
        self._fence = fence
        self.health = VenueHealth(self._scorers, settings.exchange.venue_drop_after_cycles)
        self._writing = False
        self._all_down = False  # no venue answered the last cycle (the loop said so)
        # The last cycle's stored results, by exchange ("all" too): what `scan` shows.
        self.results: dict[str, CycleResult] = {}
        self._stored = StoredUniverses(sessions)  # a venue failing since start-up
        self.percentiles = PercentileBook(sessions, ALL)

    @property
    def writing(self) -> bool:
        return self._writing or any(s.writing for s in self._scorers.values())

    @property
    def deadline_seconds(self) -> float:
        return next(iter(self._scorers.values())).deadline_seconds

    async def run_cycle(self) -> CycleResult:
        """Every venue's cycle, then the aggregates. Raises ExchangeUnavailable only
        when no venue could be used at all."""
        started_ms = int(self._clock() * 1000)
        names = list(self._scorers)
        outcomes = await asyncio.gather(
            *(s.run_cycle() for s in self._scorers.values()), return_exceptions=True
        )
        results: dict[str, CycleResult] = {}
        errors: dict[str, ExchangeError] = {}
        lost: LeaseLost | None = None
        for name, outcome in zip(names, outcomes, strict=True):
            if isinstance(outcome, CycleResult):
                results[name] = outcome
            elif isinstance(outcome, ExchangeError):
                errors[name] = outcome
            elif isinstance(outcome, LeaseLost) and outcome.result is not None:
                results[name], lost = outcome.result, outcome  # computed, not stored
            else:  # a database fault, a bug, a cancellation: the loop decides
                raise outcome
        self.results = dict(results)
        await self._stored.load(n for n in errors if self._scorers[n].last is None)
        if lost is not None:  # nothing more is written; the aggregate only for `scan`
            inputs = self.coin_inputs(results, errors)
            self.results[ALL], _ = self._compute(started_ms, results, inputs)
            lost.result = self.results[ALL]
            raise lost
        await self._note_health(names, results, errors)
        if not results:
            raise ExchangeUnavailable(venues_down(errors), "no venue answers")
        self._writing = True
        try:
            self.results[ALL] = await self._aggregate(started_ms, results, errors)
            return self.results[ALL]
        finally:
            self._writing = False

    async def record_failure(self, error: str) -> None:
        """Every venue failed: each already stored its own failed cycle; this one is the
        aggregate's, for /status and the metrics."""
        now_ms = int(self._clock() * 1000)
        async with self._sessions() as session, session.begin():
            await self._check_fence(session)
            session.add(_cycle_row(ALL, now_ms, now_ms, "failed", 0, 0, 0, error[:2000]))

    async def _check_fence(self, session: AsyncSession) -> None:
        if self._fence is not None and not await self._fence(session):
            raise LeaseLost("another replica holds the scorer lease")

    async def _note_health(
        self, names: list[str], results: dict[str, CycleResult], errors: dict[str, ExchangeError]
    ) -> None:
        """One log line when a venue starts failing, leaves or rejoins the aggregates;
        its failed cycle stored for /status. While no venue answers, the loop's one
        summary line stands for them all (`venues_down`): theirs go to DEBUG."""
        failing_before = set(self.health.failing()) | set(self.health.dropped())
        all_down = not results
        recovered = self._all_down and not all_down  # this line says who is back
        if recovered:
            still = [n for n in names if n in errors]
            rest = f"; still failing: {', '.join(still)}" if still else ""
            logger.warning(
                "%s answer%s again%s", ", ".join(results), "s" * (len(results) == 1), rest
            )
        self._all_down = all_down
        level = logging.DEBUG if all_down else logging.WARNING
        for name in names:
            exc = errors.get(name)
            # A refusal is said once, by the health line ("okx refuses us (...)").
            blocked = isinstance(exc, VenueBlocked)
            if exc is not None and name not in failing_before and not blocked:
                logger.log(level, "%s unavailable this cycle: %s", name, exc)
            line = self.health.record(
                name,
                ok=exc is None,
                blocked=blocked,
                reason="" if exc is None else str(exc)[:200],
            )
            if line is not None and not (recovered and exc is None):
                logger.log(level, line)
            if exc is not None:
                try:
                    await self._scorers[name].record_failure(str(exc))
                except SQLAlchemyError as db_exc:
                    logger.debug("cannot store %s's failed cycle: %s", name, db_exc)
            else:
                _log_venue_cycle(name, results[name])

    def coin_inputs(
        self, results: dict[str, CycleResult], errors: dict[str, ExchangeError]
    ) -> dict[str, CoinInput]:
        """Per coin on two or more counted venues, what each venue answered this cycle.
        A venue failing now is still listed through its last stored universe."""
        universe: list[Instrument] = []
        for name, scorer in self._scorers.items():
            if self.health.counts(name):
                last = scorer.last
                fetched = [] if last is None else list(last.fetched.instruments.values())
                universe.extend(fetched if last is not None else self._stored.get(name))
        out: dict[str, CoinInput] = {}
        for coin, venues in coins_across_venues(universe).items():
            entry = out[coin] = CoinInput()
            for venue, contracts in sorted(venues.items()):
                entry.symbols[venue] = [c.symbol for c in contracts]
                last = self._scorers[venue].last
                result = results.get(venue)
                if venue in errors or last is None or result is None:
                    entry.failed.append(venue)
                    continue
                if any(c.symbol in result.failed for c in contracts):
                    entry.failed.append(venue)
                    continue
                if any(c.symbol in result.held for c in contracts):
                    entry.held.append(venue)
                sample = _venue_sample(venue, contracts, last)
                if sample is None:
                    entry.failed.append(venue)
                else:
                    entry.samples.append(sample)
        return out

    async def _aggregate(
        self, started_ms: int, results: dict[str, CycleResult], errors: dict[str, ExchangeError]
    ) -> CycleResult:
        inputs = self.coin_inputs(results, errors)
        result, aggregates = self._compute(started_ms, results, inputs)
        await self.percentiles.update(result)
        await self._persist(result, aggregates, inputs)
        return result

    def _compute(
        self, started_ms: int, results: dict[str, CycleResult], inputs: dict[str, CoinInput]
    ) -> tuple[CycleResult, dict[str, Aggregate]]:
        result = CycleResult(
            cycle_id=0,
            exchange=ALL,
            started_ms=started_ms,
            finished_ms=0,
            symbols_attempted=len(inputs),
            weight_used=sum(r.weight_used for r in results.values()),
            history_calls=sum(r.history_calls for r in results.values()),
        )
        aggregates: dict[str, Aggregate] = {}
        for coin, entry in inputs.items():
            agg = aggregate(coin, entry.samples, windows=WINDOWS, failed=entry.failed)
            scored = None if agg is None else score_aggregate(agg, self._settings.scoring)
            if agg is None or isinstance(scored, str) or scored is None:
                result.failed[coin] = scored if isinstance(scored, str) else "no venue answered"
                continue
            aggregates[coin] = agg
            result.scores.append(scored)
            if agg.partial:
                result.partial[coin] = agg.missing
                result.held[coin] = f"partial: {', '.join(agg.missing)} failed this cycle"
            elif entry.held:
                result.held[coin] = f"OI history unavailable on {', '.join(entry.held)}"
        result.finished_ms = int(self._clock() * 1000)
        return result, aggregates

    async def _persist(
        self, result: CycleResult, aggregates: dict[str, Aggregate], inputs: dict[str, CoinInput]
    ) -> None:
        errors = [f"{c}: {r}" for c, r in sorted({**result.failed, **result.held}.items())[:20]]
        async with self._sessions() as session, session.begin():
            await self._check_fence(session)
            cycle = _cycle_row(
                ALL,
                result.started_ms,
                result.finished_ms,
                result.status,
                result.symbols_attempted,
                result.symbols_fetched,
                len(result.failed),
                "\n".join(errors) or None,
            )
            cycle.weight_used, cycle.history_calls = result.weight_used, result.history_calls
            session.add(cycle)
            await session.flush()
            result.cycle_id = cycle.id
            head = (cycle.id,)
            await bulk.insert_ignore_many(
                session,
                ScoreSnapshot,
                SNAPSHOT_COLUMNS,
                [head + row for row in snapshot_values(result)],
            )
            contracts = {coin: entry.symbols for coin, entry in inputs.items()}
            rows = venue_rows(cycle.id, result.started_ms, aggregates, contracts)
            await market_repo.insert_ignore(session, AggregateVenue, rows)
            await hourly_repo.upsert_cycle(session, result)
            if self._hook is not None:
                result.events_created = await self._hook(session, result)
                cycle.events_created = result.events_created


def venues_down(errors: Mapping[str, ExchangeError]) -> str:
    """One short line for a cycle no venue answered: "no venue answers: binance, bybit,
    okx (Connection refused)", or each venue's own cause when they differ."""
    causes = {name: getattr(exc, "cause", str(exc))[:120] for name, exc in errors.items()}
    if len(set(causes.values())) == 1:
        return f"no venue answers: {', '.join(causes)} ({next(iter(causes.values()))})"
    return "no venue answers: " + ", ".join(f"{n} ({c})" for n, c in causes.items())


def _log_venue_cycle(name: str, r: CycleResult) -> None:
    line = "%s cycle %d: %s, %d/%d symbols, weight %d, %d history calls"
    counts = (r.symbols_fetched, r.symbols_attempted, r.weight_used, r.history_calls)
    logger.info(line, name, r.cycle_id, r.status, *counts)


def venue_sample(
    instrument: Instrument,
    premium: PremiumIndex,
    oi: float,
    interval_hours: float,
    oi_then: Mapping[str, float | None] | None = None,
) -> VenueSample:
    """A venue's figures for one contract, in coin units.

    `oi` and `oi_then` are as the adapter reports them (one side, in the symbol's
    `base_asset` units: Binance contracts, Bybit's single side, OKX's oi x ctVal);
    the contract's multiplier (1000PEPE) turns them into coins and its price into USD
    per coin. Funding becomes percent per 8 hours, basis percent.
    """
    coins, price = to_coins(oi, premium.mark_price, instrument.multiplier)
    then = {w: None if v is None else v * instrument.multiplier for w, v in (oi_then or {}).items()}
    return VenueSample(
        venue=instrument.exchange,
        oi_coins=coins,
        mark_price=price,
        funding_8h_pct=funding_8h_pct(premium.funding_rate, interval_hours),
        basis_pct=basis_pct(premium.mark_price, premium.index_price),
        oi_then=then,
    )


def coins_across_venues(
    instruments: Iterable[Instrument], min_venues: int = 2
) -> dict[str, dict[str, list[Instrument]]]:
    """coin -> venue -> its contracts on that coin, for coins on at least `min_venues`.

    A venue with two contracts on one coin (rare with one quote asset) lists both; the
    caller sums them into that venue's sample, which is right for OI (both are positions
    on the coin) and OI-weights their funding and basis.
    """
    found: dict[str, dict[str, list[Instrument]]] = {}
    for instrument in instruments:
        found.setdefault(instrument.coin, {}).setdefault(instrument.exchange, []).append(instrument)
    return {c: v for c, v in sorted(found.items()) if len(v) >= min_venues}


def _cycle_row(
    exchange: str,
    started_ms: int,
    finished_ms: int,
    status: str,
    attempted: int,
    fetched: int,
    failed: int,
    errors: str | None,
) -> Cycle:
    return Cycle(
        exchange=exchange,
        started_ms=started_ms,
        finished_ms=finished_ms,
        status=status,
        symbols_attempted=attempted,
        symbols_fetched=fetched,
        symbols_failed=failed,
        weight_used=0,
        history_calls=0,
        errors=errors,
    )


def _venue_sample(
    venue: str, contracts: Sequence[Instrument], last: VenueFetch
) -> VenueSample | None:
    """The venue's figures for the coin, its contracts summed (rarely more than one)."""
    parts = []
    fetched = last.fetched
    for c in contracts:
        oi, premium = fetched.oi.get(c.symbol), fetched.premium.get(c.symbol)
        if oi is None or premium is None:
            return None
        interval = fetched.intervals.get(c.symbol, DEFAULT_FUNDING_INTERVAL_HOURS)
        parts.append(venue_sample(c, premium, oi.contracts, interval, last.oi_then.get(c.symbol)))
    if len(parts) == 1:
        return parts[0]
    return merge_samples(venue, parts)
