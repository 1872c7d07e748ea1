"""What is wrong with this process right now, for /healthz and the logs.

The scorer, the bot and the database checks report problems here; the HTTP side that
answers /healthz and /metrics is `bot.web.health_server`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

logger = logging.getLogger(__name__)

# A fault that lasts is logged again at this period, not once per cycle or poll.
REPEAT_LOG_SECONDS = 60.0


class HealthState:
    """Faults the scorer's last cycle cannot show (a deleted database file, a revoked bot
    token, failing writes). Any open problem makes /healthz answer 503 "unhealthy".

    Logs one ERROR line when a problem appears, repeats it at most once a minute while it
    lasts, and one INFO line when it clears."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.problems: dict[str, str] = {}
        self._logged: dict[str, float] = {}
        self._kinds: dict[str, str] = {}

    def set_problem(self, key: str, message: str, kind: str | None = None) -> None:
        """`kind`: what counts as the same problem for the log (default: the message).
        A database fault's cause can differ from one try to the next (read-only, then
        I/O error) while the outage is one."""
        now = self._clock()
        last = self._logged.get(key)
        changed = self._kinds.get(key) != (kind or message)
        self._kinds[key] = kind or message
        # Recorded before it is logged: whoever reads the line finds /healthz unhealthy.
        self.problems[key] = message
        if changed or last is None or now - last >= REPEAT_LOG_SECONDS:
            logger.error("%s", message)
            self._logged[key] = now

    def clear(self, key: str, recovered: str | None = None) -> None:
        if self.problems.pop(key, None) is not None:
            self._logged.pop(key, None)
            self._kinds.pop(key, None)
            if recovered:
                logger.info("%s", recovered)
