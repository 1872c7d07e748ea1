"""Venue words in commands: `/top bybit`, `/symbol BTC okx`, `/subscribe BTC all`.

Without one, a command shows the default view (`exchange.default_view`: the one
venue, or the cross-venue aggregate "all" when several are enabled).
"""

from __future__ import annotations

from bot.telegram.deps import Deps
from bot.views import actions, market


def split_venue(deps: Deps, args: list[str]) -> tuple[str | None, list[str]]:
    """A venue word anywhere in the arguments (`/top bybit`, `/symbol BTC okx`), and the
    rest; None when there is none (the default view)."""
    for i, arg in enumerate(args):
        venue = actions.venue_word(deps, arg)
        if venue is not None:
            return venue, args[:i] + args[i + 1 :]
    return None, args


async def venue_universe(deps: Deps, venue: str | None) -> list[str]:
    """The symbols of `venue` (coins for "all"); the default view's come cached."""
    if venue is None or venue == deps.exchange:
        return await deps.market.universe()
    async with deps.sessions() as session:
        return await market.known_symbols(session, venue)
