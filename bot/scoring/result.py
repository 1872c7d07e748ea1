"""What one scoring cycle produced, handed from the scorer to the alert engine."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.scoring.formula import Score


@dataclass(frozen=True, slots=True)
class SymbolScore:
    exchange: str
    symbol: str
    score: Score
    oi_contracts: float
    oi_1h_pct: float | None
    oi_4h_pct: float | None
    oi_24h_pct: float | None
    funding_pct: float  # per interval, percent
    funding_interval_hours: int
    mark_price: float
    index_price: float
    basis_pct: float
    # The venue's predicted next funding, percent per interval; None where unpublished.
    funding_next_pct: float | None = None
    # The symbol's own percentiles (0-100) in its trailing 90 days of hourly rows, None
    # until two weeks are stored (bot/scoring/percentile.py, bot/cycle/percentiles.py).
    funding_pctl_90d: int | None = None
    oi_24h_pctl_90d: int | None = None
    basis_pctl_90d: int | None = None


@dataclass(slots=True)
class CycleResult:
    cycle_id: int
    exchange: str
    started_ms: int
    finished_ms: int
    symbols_attempted: int
    scores: list[SymbolScore] = field(default_factory=list)
    # symbol -> short reason ("open interest: Invalid symbol.", "no premium index", ...)
    failed: dict[str, str] = field(default_factory=dict)
    # Scored, but an OI window that could exist is unknown because its history could
    # not be fetched this cycle (symbol -> reason). Their score may read low for want of
    # data, so their alert state is held, as for a failed symbol (docs/scoring.md).
    held: dict[str, str] = field(default_factory=dict)
    # Aggregate cycles: coins scored without a venue that failed this cycle (coin ->
    # those venues). Shown, held for alerts, and they make the cycle "partial".
    partial: dict[str, tuple[str, ...]] = field(default_factory=dict)
    weight_used: int = 0
    history_calls: int = 0
    events_created: int = 0

    @property
    def symbols_fetched(self) -> int:
        return len(self.scores)

    @property
    def fetched_share(self) -> float:
        return self.symbols_fetched / self.symbols_attempted if self.symbols_attempted else 0.0

    @property
    def hold_alert_state(self) -> frozenset[str]:
        """Symbols whose alert state must not move this cycle: failed or held."""
        return frozenset(self.failed) | frozenset(self.held)

    @property
    def status(self) -> str:
        return "ok" if not self.failed and not self.partial else "partial"
