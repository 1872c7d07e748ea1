"""Whether a venue's open interest readings are new: a reading whose exchange time has
not advanced since the last one is the same sample served again (a stale cache, a
stuck feed), not a new one. Scored as new, it would move every OI window against a
value that stopped moving (OI 1h 5.0% -> 2.47% over six frozen cycles), so such a
symbol counts as failed for the cycle: nothing stored, no window anchored on it, its
alert state held, and its aggregate partial (docs/scoring.md, "Stale data").

One log line per venue when its data goes stale, one when it advances again; the
cycle's stored errors lead with the stale symbols, so /status and /healthz name the
venue (`is_stale_errors`).
"""

from __future__ import annotations

import logging
import time

from bot.markets.base import OpenInterest

logger = logging.getLogger("bot.cycle.run")

STALE = "stale open interest"


def is_stale_errors(errors: str | None) -> bool:
    """Whether a cycle's stored errors say its venue served stale open interest."""
    return bool(errors) and STALE in str(errors).splitlines()[0]


def utc(ms: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ms / 1000))


class OiFreshness:
    """The exchange time of each symbol's last reading, for one venue."""

    def __init__(self, venue: str) -> None:
        self.venue = venue
        self._seen: dict[str, OpenInterest] = {}
        self.stale_now = False  # the venue's state as last logged

    def take_stale(self, oi: dict[str, OpenInterest]) -> dict[str, str]:
        """Remove the readings whose exchange time has not advanced from `oi`;
        returns symbol -> reason for those. Logs when the venue's state changes."""
        stale: dict[str, str] = {}
        for symbol, reading in list(oi.items()):
            before = self._seen.get(symbol)
            # The very same reading is the adapter's own reuse of a bulk answer within a
            # cycle's reach (bot/markets/bulk_snapshot.py), not the exchange repeating itself.
            if before is not None and reading is not before and reading.time_ms <= before.time_ms:
                stale[symbol] = f"{STALE}: exchange time stuck at {utc(before.time_ms)}"
                del oi[symbol]
            else:
                self._seen[symbol] = reading
        self._log_change(stale, len(oi) + len(stale))
        return stale

    def _log_change(self, stale: dict[str, str], total: int) -> None:
        if bool(stale) == self.stale_now:
            return
        self.stale_now = bool(stale)
        if stale:
            example = next(iter(sorted(stale.items())))
            logger.warning(
                "%s serves %s for %d of %d symbols (e.g. %s: %s): not new samples, "
                "so not scored and no alerts from them until it advances",
                self.venue,
                STALE,
                len(stale),
                total,
                example[0],
                example[1].removeprefix(f"{STALE}: "),
            )
        else:
            logger.info("%s open interest advances again: scoring resumes", self.venue)
