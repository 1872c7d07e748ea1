"""Plain records every exchange adapter returns, and the protocol they implement.

Adapters do HTTP and parsing only: no scoring, no database. Every number is already a
float (Binance sends strings) and every time is integer epoch milliseconds, UTC.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

# "1000PEPE", "1000000MOG", "1MBABYDOGE" (Binance, Bybit) and "SHIB1000" (Bybit): one unit
# of such a contract, and its price, is 10^k coins. "1INCH" is a coin, not a multiplier:
# a multiplier is 1 followed by at least three zeros, or "1M".
_MULTIPLIER_PREFIX = re.compile(r"^(1000+|1M)(?=[A-Z])(.+)$")
_MULTIPLIER_SUFFIX = re.compile(r"^([A-Z][A-Z0-9]*?[A-Z])(1000+)$")


def split_multiplier(base_asset: str) -> tuple[str, float]:
    """("1000PEPE") -> ("PEPE", 1000.0); ("BTC") -> ("BTC", 1.0)."""
    match = _MULTIPLIER_PREFIX.match(base_asset)
    if match:
        head, coin = match.groups()
        return coin, 1e6 if head == "1M" else float(head)
    match = _MULTIPLIER_SUFFIX.match(base_asset)
    if match:
        coin, tail = match.groups()
        return coin, float(tail)
    return base_asset, 1.0


@dataclass(frozen=True, slots=True)
class Instrument:
    exchange: str
    symbol: str
    base_asset: str
    quote_asset: str
    onboard_ms: int | None = None

    @property
    def coin(self) -> str:
        """The coin this contract is on, for matching across venues ("PEPE" for 1000PEPE)."""
        return split_multiplier(self.base_asset)[0]

    @property
    def multiplier(self) -> float:
        """Coins per unit of this contract's quantity and price (1000 for 1000PEPEUSDT).

        OI in coins = OI x multiplier; price per coin = price / multiplier. Adapters that
        size contracts themselves (OKX's ctVal) already report OI in `base_asset` units.
        """
        return split_multiplier(self.base_asset)[1]


@dataclass(frozen=True, slots=True)
class PremiumIndex:
    symbol: str
    mark_price: float
    index_price: float
    funding_rate: (
        float  # fraction per funding interval, as the exchange reports it (0.0001 = 0.01%)
    )
    time_ms: int
    # The venue's published prediction of the next settlement's rate, same unit; None
    # where the venue publishes none (OKX's `fundingRate` is one: okx.py).
    predicted_funding_rate: float | None = None


@dataclass(frozen=True, slots=True)
class OpenInterest:
    """One side of the open interest, in units of the symbol's `base_asset`, so that
    `contracts * mark_price` is its value in the quote asset (USD). Binance's contracts are
    such units; Bybit's both-sides figure is halved and OKX's contracts are sized by ctVal
    in their adapters."""

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
    """The exchange could not be reached or kept failing after retries.

    `cause` is the short reason ("Connection refused", "HTTP 502", "timeout") for a
    summary line over several venues; the message has the URL and the detail."""

    def __init__(self, message: str, cause: str | None = None) -> None:
        super().__init__(message)
        self.cause = cause or message


class SymbolUnavailable(ExchangeError):
    """One symbol's data cannot be had this cycle (delisted, invalid, unparsable)."""


class MalformedResponse(ExchangeError):
    """The exchange answered, but not with the shape we expect."""


class VenueBlocked(ExchangeUnavailable):
    """The venue refuses this IP: a rate ban (Bybit's HTTP 403) or a region block (HTTP
    451, or 403 from a CDN). Every request fails fast until `until_s` (epoch seconds);
    a caller may take the venue out of an aggregate at once instead of after N cycles."""

    def __init__(self, message: str, until_s: float, status: int) -> None:
        super().__init__(message, f"refused with HTTP {status}")
        self.until_s = until_s
        self.status = status


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


@runtime_checkable
class BulkOpenInterest(Protocol):
    """Optional: every symbol's current OI in one call (Bybit's tickers, OKX's
    open-interest). Binance has no such endpoint and keeps `open_interest(symbol)`;
    callers check `isinstance(adapter, BulkOpenInterest)` and fall back to per-symbol."""

    async def open_interest_all(self) -> dict[str, OpenInterest]:
        """Symbol -> OI, for every symbol the venue lists (callers filter)."""
        ...
