"""An outbox worker's claims: taken under its replica name, renewed while it works on
them, released at start when a previous run of the same name left some behind.

SQLite (one worker): claims last `lease_ms` (10 min) on this host's clock and a start
releases every claim, as before. PostgreSQL (any number of workers): claims last the
replica lease (`[replica] lease_seconds`, 15 s) on the database clock and are renewed
every third of it, so a worker killed with claims in hand hands them to the others one
lease later; a start releases only the claims under its own name
(bot/storage/outbox_claims.py, docs/alerts.md "Several outbox workers").
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Sequence, Sized

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.storage import outbox_claims
from bot.storage.leases import db_now_ms
from bot.storage.outbox_claims import ClaimedGroup
from bot.telegram.outage import short_error

logger = logging.getLogger(__name__)


class ClaimKeeper:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        holder: str,
        *,
        shared: bool,
        lease_ms: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._sessions = sessions
        self.holder = holder
        self.shared = shared  # several workers may claim: PostgreSQL
        self.lease_ms = lease_ms
        self._clock = clock
        self._next_renewal = time.monotonic() + self.renew_every

    @classmethod
    def make(
        cls,
        sessions: async_sessionmaker[AsyncSession],
        settings: Settings,
        holder: str,
        lease_ms: int | None = None,
        clock: Callable[[], float] = time.time,
    ) -> ClaimKeeper:
        """Shared claims on PostgreSQL (several workers may claim and send), with short
        renewed leases; SQLite's single worker keeps its long lease."""
        bind = sessions.kw.get("bind")
        shared = bind is not None and bind.dialect.name == "postgresql"
        if lease_ms is None:
            lease_ms = int(settings.replica.lease_seconds * 1000) if shared else 600_000
        return cls(sessions, holder, shared=shared, lease_ms=lease_ms, clock=clock)

    @property
    def renew_every(self) -> float:
        return self.lease_ms / 3000

    async def _now_ms(self, session: AsyncSession) -> int:
        """The database clock when claims are shared: hosts' clocks may disagree."""
        if self.shared:
            return await db_now_ms(session)
        return int(self._clock() * 1000)

    async def release_previous(self) -> int:
        """Claims a dead previous run left: every claim (SQLite), or ours (PostgreSQL).
        Returns how many were released (0 when that failed)."""
        try:
            async with self._sessions() as session, session.begin():
                released = await outbox_claims.release_claims(
                    session,
                    await self._now_ms(session),
                    holder=self.holder if self.shared else None,
                )
        except Exception as exc:  # they come due when their lease ends anyway
            logger.warning("releasing claims of a previous run failed: %s", short_error(exc, 200))
            return 0
        if released:
            logger.info("released %d deliveries claimed by a previous run", released)
        return released

    async def claim(self, max_groups: int) -> list[ClaimedGroup]:
        async with self._sessions() as session, session.begin():
            return await outbox_claims.claim_due(
                session,
                await self._now_ms(session),
                max_groups=max_groups,
                lease_ms=self.lease_ms,
                holder=self.holder,
            )

    @property
    def own(self) -> str | None:
        """Whose claims a send must still hold (shared claims only), for load_items."""
        return self.holder if self.shared else None

    def still_ours(self, ids: Sequence[int], loaded: Sized) -> bool:
        """Checked just before a send: rows missing from what was loaded for `own` were
        taken over after our claim lapsed (this worker stalled longer than a lease);
        the worker that holds them now sends them, not us."""
        if not self.shared or len(loaded) >= len(ids):
            return True
        logger.warning("a claim on %d deliveries lapsed and was taken over", len(ids))
        return False

    def renew_in(self) -> float:
        """Seconds until the claims in hand need renewing."""
        return max(0.0, self._next_renewal - time.monotonic())

    async def renew(self, ids: Collection[int]) -> None:
        """Renew the lease of the claims in hand when a third of it has passed. A failure
        is logged: the claims lapse and another worker sends them (a possible repeat)."""
        if time.monotonic() < self._next_renewal:
            return
        self._next_renewal = time.monotonic() + self.renew_every
        if not ids:
            return
        try:
            async with self._sessions() as session, session.begin():
                now = await self._now_ms(session)
                await outbox_claims.renew_claims(
                    session, sorted(ids), now, self.lease_ms, self.holder
                )
        except Exception as exc:
            logger.warning("renewing outbox claims failed: %s", short_error(exc, 200))
