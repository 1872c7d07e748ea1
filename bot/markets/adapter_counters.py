"""The counters every adapter reports (weight, history calls, history trouble, a block in
force), delegated to its venue's `RestClient`: one implementation for all three. Also the
long/short positioning fetch (bot/markets/positioning.py), over the same client and so
within the same budgets."""

from __future__ import annotations

from bot.markets import positioning
from bot.markets.positioning import Positioning
from bot.markets.rest_client import RestClient


class ClientCounters:
    """Mixed into each adapter; `history_label` names its history endpoint in log lines."""

    _client: RestClient
    name: str
    history_label: str
    skipped_rows: int

    def weight_used(self) -> int:
        """Declared weight sent (retries included): requests, on Bybit and OKX."""
        return self._client.weight_used()

    def history_calls(self) -> int:
        return self._client.history_calls()

    def reset_counters(self) -> None:
        self._client.reset_counters()
        self.skipped_rows = 0

    def blocked_status(self) -> int | None:
        """The HTTP status (403, 451) of a ban or region block now in force, or None."""
        return self._client.blocked_status()

    def history_trouble(self) -> str | None:
        """E.g. "bybit open-interest: HTTP 502 ×6; backfill paused until 21:45:10 UTC"."""
        return self._client.history_trouble(self.history_label)

    async def positioning(self, symbol: str) -> Positioning:
        """This venue's long/short ratios of `symbol`."""
        return await positioning.VENUES[self.name].fetch(self._client, symbol)

    def positioning_budget(self) -> tuple[int, int, float]:
        """(calls the positioning fetch may send now: the free slots of the window it
        shares, less what it leaves to the scoring cycle; calls per symbol; seconds the
        window takes to refill)."""
        venue = positioning.VENUES[self.name]
        reserve = venue.reserve
        window = self._client.limits.windows.get(venue.path)
        if window is not None:  # an operator's smaller budget keeps a third, not all
            reserve = min(reserve, window.limit // 3)
        left = self._client.history_budget_left(venue.path) - reserve
        return left, venue.calls, venue.refill_seconds
