"""One coin across venues: pure arithmetic, no I/O (docs/scoring.md, "Across venues").

Inputs are already in common units: OI in coins, one side (`Instrument.multiplier` and
the adapters see to that), prices per coin, funding in percent per 8 hours, basis in
percent. The conventions are those Coinglass, Coinalyze and Velo publish:

- OI change per window = Σ (OI now − OI then) / Σ OI then, over the venues known at
  **both** ends. A venue that joins, leaves or fails moves neither sum, so it never
  makes a jump; the change is the OI-then-weighted mean of the venues' own changes.
- Funding and basis: means weighted by each venue's OI in USD. A plain mean would give
  a small venue as much say as a large one.
- A venue that failed this cycle makes the aggregate `partial` (shown, never alerted
  on). `VenueHealth` takes a venue out after it stays unreachable for N cycles, or at
  once when it refuses us (rate ban, region block), and puts it back when it answers.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

ALL = "all"  # the exchange name aggregate rows are stored under, keyed by coin


@dataclass(frozen=True, slots=True)
class VenueSample:
    """One venue's figures for one coin this cycle.

    `oi_then` maps a window name ("1h", "4h", "24h") to the OI at that window's anchor,
    or None when the venue has no sample there (listed later, gap, failed backfill).
    """

    venue: str
    oi_coins: float
    mark_price: float  # per coin
    funding_8h_pct: float | None
    basis_pct: float | None
    oi_then: Mapping[str, float | None] = field(default_factory=dict)

    @property
    def oi_usd(self) -> float:
        return self.oi_coins * self.mark_price


@dataclass(frozen=True, slots=True)
class VenueShare:
    venue: str
    oi_coins: float
    oi_usd: float
    share: float  # of the aggregate's OI in USD, 0..1
    funding_8h_pct: float | None
    basis_pct: float | None


@dataclass(frozen=True, slots=True)
class Aggregate:
    coin: str
    oi_coins: float
    oi_usd: float
    mark_price: float | None  # USD per coin: OI-weighted across venues
    oi_change_pct: dict[str, float | None]  # window -> percent; None: unknown
    funding_8h_pct: float | None
    basis_pct: float | None
    venues: tuple[VenueShare, ...]
    partial: bool  # a venue in the aggregate failed this cycle: show, never alert
    missing: tuple[str, ...]  # those venues


def funding_8h_pct(rate: float, interval_hours: float) -> float:
    """A venue's funding rate (fraction per interval) as percent per 8 hours."""
    return rate * 100.0 * 8.0 / interval_hours


def basis_pct(mark: float, index: float) -> float:
    return (mark - index) / index * 100.0


def to_coins(oi: float, price: float, multiplier: float) -> tuple[float, float]:
    """(OI, price) of a multiplier contract (1000PEPE) as (coins, USD per coin)."""
    return oi * multiplier, price / multiplier


def oi_change_pct(samples: Iterable[VenueSample], window: str) -> float | None:
    """Σ (now − then) / Σ then over venues known at both ends, in percent; None if none."""
    moved = anchored = 0.0
    for s in samples:
        then = s.oi_then.get(window)
        if then is None or not math.isfinite(then) or then < 0:
            continue
        moved += s.oi_coins - then
        anchored += then
    if anchored <= 0:
        return None
    return moved / anchored * 100.0


def weighted(pairs: Iterable[tuple[float | None, float]]) -> float | None:
    """Σ value × weight / Σ weight over known values with positive weight."""
    total = weight_sum = 0.0
    for value, weight in pairs:
        if value is None or weight <= 0:
            continue
        total += value * weight
        weight_sum += weight
    return total / weight_sum if weight_sum > 0 else None


def aggregate(
    coin: str,
    samples: Iterable[VenueSample],
    *,
    windows: Iterable[str] = ("1h", "4h", "24h"),
    failed: Iterable[str] = (),
) -> Aggregate | None:
    """The aggregate of one coin over the venues that answered (`samples`).

    `failed` names venues still counted in this coin's aggregate (not dropped by
    `VenueHealth`) that failed this cycle: they make it partial. None without samples.
    """
    rows = [s for s in samples if s.oi_coins >= 0 and s.mark_price > 0]
    if not rows:
        return None
    oi_coins = sum(s.oi_coins for s in rows)
    oi_usd = sum(s.oi_usd for s in rows)
    shares = tuple(
        VenueShare(
            venue=s.venue,
            oi_coins=s.oi_coins,
            oi_usd=s.oi_usd,
            share=s.oi_usd / oi_usd if oi_usd > 0 else 1.0 / len(rows),
            funding_8h_pct=s.funding_8h_pct,
            basis_pct=s.basis_pct,
        )
        for s in sorted(rows, key=lambda s: (-s.oi_usd, s.venue))
    )
    answered = {s.venue for s in rows}
    missing = tuple(sorted(set(failed) - answered))
    return Aggregate(
        coin=coin,
        oi_coins=oi_coins,
        oi_usd=oi_usd,
        mark_price=oi_usd / oi_coins if oi_coins > 0 else None,
        oi_change_pct={w: oi_change_pct(rows, w) for w in windows},
        funding_8h_pct=weighted((s.funding_8h_pct, s.oi_usd) for s in rows),
        basis_pct=weighted((s.basis_pct, s.oi_usd) for s in rows),
        venues=shares,
        partial=bool(missing),
        missing=missing,
    )


@dataclass
class _State:
    failures: int = 0
    dropped: bool = False
    reason: str = ""


class VenueHealth:
    """Which venues count in aggregates, cycle by cycle.

    A venue that fails a cycle still counts (its coins' aggregates are partial) until it
    has failed `drop_after` cycles in a row, or at once when it refuses us (`blocked`:
    a rate ban or region block, HTTP 403/451). Then it leaves every aggregate, so they
    are whole again on the remaining venues, and returns on its first good cycle. Each
    change is returned once from `record` as a line to log and show in /status.
    """

    def __init__(self, venues: Iterable[str], drop_after: int = 3) -> None:
        if drop_after < 1:
            raise ValueError("drop_after must be at least 1")
        self.drop_after = drop_after
        self._states = {v: _State() for v in venues}

    def record(
        self, venue: str, *, ok: bool, blocked: bool = False, reason: str = ""
    ) -> str | None:
        """Note one cycle's outcome for `venue`; a line when it leaves or rejoins."""
        state = self._states.setdefault(venue, _State())
        if ok:
            state.failures = 0
            if state.dropped:
                state.dropped, state.reason = False, ""
                return f"{venue} answers again; back in the cross-venue aggregates"
            return None
        state.failures += 1
        state.reason = reason or state.reason
        if state.dropped or not (blocked or state.failures >= self.drop_after):
            return None
        state.dropped = True
        why = "refuses us" if blocked else f"unreachable for {state.failures} cycles"
        detail = f" ({state.reason})" if state.reason else ""
        return f"{venue} {why}{detail}; aggregates continue on the other venues"

    def counts(self, venue: str) -> bool:
        """Whether `venue` is part of aggregates (answering, or failing but not dropped)."""
        state = self._states.get(venue)
        return state is None or not state.dropped

    def failing(self) -> list[str]:
        """Venues that failed their last cycle but still count: aggregates are partial."""
        return sorted(v for v, s in self._states.items() if s.failures and not s.dropped)

    def dropped(self) -> dict[str, str]:
        """Venues out of the aggregates, with the last reason (for /status)."""
        return {v: s.reason for v, s in sorted(self._states.items()) if s.dropped}
