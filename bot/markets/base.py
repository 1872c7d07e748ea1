"""Plain records every exchange adapter returns, and the protocol they implement.

Adapters do HTTP and parsing only: no scoring, no database. Every number is already a
float (Binance sends strings) and every time is integer epoch milliseconds, UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Instrument:
    exchange: str
    symbol: str
    base_asset: str
    quote_asset: str
    onboard_ms: int | None = None


@dataclass(frozen=True, slots=True)
class PremiumIndex:
    symbol: str
    mark_price: float
    index_price: float
    funding_rate: (
        float  # fraction per funding interval, as the exchange reports it (0.0001 = 0.01%)
    )
    time_ms: int


@dataclass(frozen=True, slots=True)
class OpenInterest:
    symbol: str
    contracts: float
    time_ms: int


@dataclass(frozen=True, slots=True)
class OiPoint:
    time_ms: int
    contracts: float


class ExchangeError(Exception):
    """Base class for anything that went wrong talking to an exchange."""


class ExchangeUnavailable(ExchangeError):
    """The exchange could not be reached or kept failing after retries."""


class SymbolUnavailable(ExchangeError):
    """One symbol's data cannot be had this cycle (delisted, invalid, unparsable)."""


class MalformedResponse(ExchangeError):
    """The exchange answered, but not with the shape we expect."""


class HistoryBudgetExhausted(ExchangeError):
    """The OI-history endpoint's own rate budget is spent for now.

    Raised instead of waiting minutes for the budget to refill: the caller leaves the
    affected OI windows unknown (null) this cycle and tries again next cycle.
    """


class HistoryPaused(ExchangeUnavailable):
    """The OI-history endpoint kept failing; its circuit breaker sends nothing until
    `until_s` (epoch seconds). The affected windows stay unknown this cycle."""

    def __init__(self, message: str, until_s: float) -> None:
        super().__init__(message)
        self.until_s = until_s


class ExchangeAdapter(Protocol):
    """What the scorer needs from an exchange. Binance is the first implementation."""

    name: str

    async def universe(self) -> list[Instrument]: ...

    async def premium_index(self) -> dict[str, PremiumIndex]: ...

    async def funding_intervals(self) -> dict[str, int]:
        """Hours per funding interval for symbols that differ from the default (8h)."""
        ...

    async def open_interest(self, symbol: str) -> OpenInterest: ...

    async def open_interest_history(
        self, symbol: str, *, start_ms: int, end_ms: int
    ) -> list[OiPoint]:
        """5-minute OI samples within [start_ms, end_ms], oldest first."""
        ...

    def weight_used(self) -> int:
        """Request weight this adapter has spent since the last `reset_counters()`."""
        ...

    def history_calls(self) -> int: ...

    def history_trouble(self) -> str | None:
        """One line on OI-history failures since `reset_counters()`, or None if none."""
        ...

    def reset_counters(self) -> None: ...
