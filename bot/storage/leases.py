"""Named leases in the database: how replicas elect the scorer and the update receiver.

A lease is one row of `leases` (name, holder, epoch, expires_ms). Every time is the
DATABASE's clock, so replicas on hosts whose clocks disagree still agree on who holds
what. Why a lease row and not a PostgreSQL advisory lock: an advisory lock lives as long
as its connection, and after a network partition PostgreSQL may keep a dead client's
connection (and lock) for as long as TCP keepalive takes, minutes; a lease ends on time.
It also works unchanged on SQLite, where one process holds every lease.

- `try_acquire` takes a free or expired lease, or renews our own, in one upsert.
- `epoch` grows each time the holder changes. A write that must only happen under the
  lease (the scorer's cycle) calls `fence` inside its own transaction: an UPDATE that
  matches only (name, holder, epoch). On PostgreSQL it also locks the row until that
  transaction ends, so a replica taking over waits for the commit and then finds the
  lease renewed; if the takeover came first, the fence matches nothing and the caller
  rolls back. Either way at most one holder's writes commit.
- Two live processes under one replica name (a copied config) do not both hold a
  lease: each process stamps its own take (`acquire`), so the last to take it holds it
  and the other stands by with one ERROR line.
- `LeaseKeeper` keeps trying every third of the lease; it releases the lease on a clean
  stop, so a rolling restart hands over at once instead of after the lease runs out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import case, func, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.storage.models import Lease

logger = logging.getLogger(__name__)

SCORER = "scorer"
UPDATES = "updates"
LIQUIDATIONS = "liquidations"  # the holder of the venues' liquidation streams

_NOW_SQL = {
    "postgresql": "SELECT CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)",
    "sqlite": "SELECT CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)",
}


@dataclass(frozen=True, slots=True)
class LeaseInfo:
    name: str
    holder: str
    epoch: int
    expires_ms: int
    now_ms: int  # the database clock when this was read

    @property
    def live(self) -> bool:
        return self.expires_ms > self.now_ms

    @property
    def expires_in_seconds(self) -> float:
        return max(0.0, (self.expires_ms - self.now_ms) / 1000)


async def db_now_ms(session: AsyncSession) -> int:
    """The database's clock, epoch milliseconds."""
    sql = _NOW_SQL[session.get_bind().dialect.name]
    return int((await session.execute(text(sql))).scalar_one())


async def try_acquire(session: AsyncSession, name: str, holder: str, ttl_ms: int) -> int | None:
    """Take `name` if it is free or expired, or renew it if it is ours; inside a write
    transaction. Returns the epoch now held, or None when another replica holds it.

    The epoch is kept when the same holder takes its own lease back after it lapsed
    (nobody held it in between, so nothing it fences can have been overtaken)."""
    got = await acquire(session, name, holder, ttl_ms, stamp=ANY_STAMP)
    return None if got is None else got[0]


# `acquire`'s stamp for a caller that treats every lease under its name as its own.
ANY_STAMP = -1


async def acquire(
    session: AsyncSession, name: str, holder: str, ttl_ms: int, stamp: int | None
) -> tuple[int, int] | None:
    """`try_acquire` for one process: (epoch, stamp) now held, or None.

    The stamp (`acquired_ms`) tells two live processes with one replica name apart. A
    process that has not held the lease yet (`stamp` None) takes a live lease under its
    name (its previous run's, after a restart) with a new epoch and a new stamp; from
    then on it renews only while the row still carries its stamp. So if a second live
    process runs under the same name, the one that took the lease last holds it, the
    other's fence fails (new epoch) and its renewals find the lease held: one scorer,
    never two."""
    now = await db_now_ms(session)
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    greatest = func.greatest if dialect == "postgresql" else func.max
    stmt = insert(Lease).values(
        name=name, holder=holder, epoch=1, acquired_ms=now, expires_ms=now + ttl_ms
    )
    ours = Lease.holder == stmt.excluded.holder
    mine = ours if stamp == ANY_STAMP else ours & (Lease.acquired_ms == (stamp or 0))
    may_take = mine | (Lease.expires_ms <= now)
    if stamp is None:
        may_take = may_take | ours
    upsert = stmt.on_conflict_do_update(
        index_elements=[Lease.name],
        set_={
            "epoch": case((mine, Lease.epoch), else_=Lease.epoch + 1),
            # A new stamp always differs from the old one, even within one millisecond.
            "acquired_ms": case(
                (mine, Lease.acquired_ms), else_=greatest(now, Lease.acquired_ms + 1)
            ),
            "holder": stmt.excluded.holder,
            "expires_ms": stmt.excluded.expires_ms,
        },
        where=may_take,
    ).returning(Lease.epoch, Lease.acquired_ms)
    row = (await session.execute(upsert)).first()
    return None if row is None else (int(row[0]), int(row[1]))


async def fence(session: AsyncSession, name: str, holder: str, epoch: int, ttl_ms: int) -> bool:
    """Inside the caller's write transaction: True (and the lease extended) iff `holder`
    still holds `name` at `epoch`. False: the lease moved on; roll back."""
    now = await db_now_ms(session)
    stmt = (
        update(Lease)
        .where(Lease.name == name, Lease.holder == holder, Lease.epoch == epoch)
        .values(expires_ms=now + ttl_ms)
        .returning(Lease.epoch)
    )
    return (await session.execute(stmt)).first() is not None


async def is_free(session: AsyncSession, name: str) -> bool:
    """Inside the caller's write transaction: True when nobody holds `name` now. On
    PostgreSQL the row stays locked until that transaction ends, so nobody takes or
    renews the lease before the caller's write is committed (or rolled back)."""
    now = await db_now_ms(session)
    stmt = select(Lease.expires_ms).where(Lease.name == name).with_for_update()
    expires = (await session.execute(stmt)).scalar_one_or_none()
    return expires is None or expires <= now


async def release(session: AsyncSession, name: str, holder: str, stamp: int | None = None) -> bool:
    """Let the lease lapse now if we hold it (with `stamp`: only if this process's take
    is the current one), so a standby takes it at its next try."""
    now = await db_now_ms(session)
    mine = [Lease.name == name, Lease.holder == holder]
    if stamp is not None:
        mine.append(Lease.acquired_ms == stamp)
    stmt = update(Lease).where(*mine).values(expires_ms=now).returning(Lease.name)
    return (await session.execute(stmt)).first() is not None


async def current(session: AsyncSession, name: str) -> LeaseInfo | None:
    """Who holds `name` (or held it last), as the database sees it now."""
    now = await db_now_ms(session)
    row = (await session.execute(select(Lease).where(Lease.name == name))).scalar_one_or_none()
    if row is None:
        return None
    return LeaseInfo(row.name, row.holder, row.epoch, row.expires_ms, now)


class LeaseKeeper:
    """Holds `name` for `holder` whenever it can: tries every ttl/3 while standing by,
    renews every ttl/3 while holding. `held`/`epoch` say where it stands; `on_change`
    is called with True on taking the lease and False on losing it.

    A renewal that fails (database unreachable) keeps the lease only until the last
    successful renewal plus the ttl minus one retry period, measured on this process's
    monotonic clock from *before* that renewal was sent: by then another replica may
    have taken it, so this one stops acting as the holder first."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        name: str,
        holder: str,
        ttl_seconds: float,
        on_change: Callable[[bool], None] | None = None,
        news_level: int = logging.INFO,
    ) -> None:
        self.sessions = sessions
        # Taking and releasing are news among replicas, not to a single process.
        self.news_level = news_level
        self.name = name
        self.holder = holder
        self.ttl_ms = int(ttl_seconds * 1000)
        self.period = ttl_seconds / 3
        self.on_change = on_change
        self.epoch: int | None = None
        self._valid_until = 0.0  # monotonic
        self._held = asyncio.Event()
        self._lost = asyncio.Event()
        self._lost.set()
        self._error: str | None = None
        self._stamp: int | None = None  # this process's take of the lease (`acquire`)
        self._twin_logged = False

    @property
    def held(self) -> bool:
        return self._held.is_set() and time.monotonic() < self._valid_until

    async def wait_held(self) -> None:
        await self._held.wait()

    async def wait_lost(self) -> None:
        await self._lost.wait()

    async def run(self, stop: asyncio.Event, *, release_on_stop: bool = True) -> None:
        """Keep trying until `stop`, then release the lease. `release_on_stop=False`
        leaves it to lapse at its expiry, as a crashed process does (failover tests)."""
        try:
            while not stop.is_set():
                await self.tick()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self._next_wait())
        finally:
            if release_on_stop:
                await self._release()

    def _next_wait(self) -> float:
        if not self._held.is_set():
            return self.period
        # Never sleep past the point where the lease would have to be given up.
        return max(0.05, min(self.period, self._valid_until - time.monotonic() - 0.05))

    async def tick(self) -> None:
        """One try: take or renew the lease, or notice it is gone."""
        sent = time.monotonic()
        try:
            async with self.sessions() as session, session.begin():
                got = await acquire(session, self.name, self.holder, self.ttl_ms, self._stamp)
                if got is None and self._stamp is not None:
                    await self._check_twin(session)
        except Exception as exc:  # the database is away: keep what is still safely ours
            self._log_error(exc)
            if self._held.is_set() and time.monotonic() >= self._valid_until:
                self._set(None, 0.0)
            return
        if self._error is not None:
            logger.info("lease %s: database reachable again", self.name)
            self._error = None
        epoch = None
        if got is not None:
            epoch, self._stamp = got
        valid_until = sent + self.ttl_ms / 1000 - self.period
        self._set(epoch, valid_until if epoch is not None else 0.0)

    async def _check_twin(self, session: AsyncSession) -> None:
        """Our name holds the lease, but not our take: another live process runs under
        this replica name (a dead previous run cannot take it after we did)."""
        info = await current(session, self.name)
        if info is None or info.holder != self.holder or not info.live or self._twin_logged:
            return
        self._twin_logged = True
        logger.error(
            "%s: another live process runs under this replica name and took the %s lease: "
            "this one stands by; give every replica its own [replica] name",
            self.holder,
            self.name,
        )

    def _set(self, epoch: int | None, valid_until: float) -> None:
        was_held = self._held.is_set()
        self.epoch, self._valid_until = epoch, valid_until
        if epoch is not None and not was_held:
            self._held.set()
            self._lost.clear()
            logger.log(
                self.news_level, "%s: took the %s lease (epoch %d)", self.holder, self.name, epoch
            )
            if self.on_change is not None:
                self.on_change(True)
        elif epoch is None and was_held:
            self._held.clear()
            self._lost.set()
            logger.warning("%s: lost the %s lease", self.holder, self.name)
            if self.on_change is not None:
                self.on_change(False)

    def _log_error(self, exc: Exception) -> None:
        cause = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if cause != self._error:
            logger.warning("lease %s: cannot reach the database (%s)", self.name, cause[:200])
            self._error = cause
        logger.debug("lease failure", exc_info=exc)

    async def _release(self) -> None:
        if not self._held.is_set():
            return
        try:
            async with self.sessions() as session, session.begin():
                await release(session, self.name, self.holder, self._stamp)
        except Exception as exc:  # it lapses by itself at its expiry
            logger.warning("lease %s: release failed (%s)", self.name, type(exc).__name__)
        else:
            logger.log(self.news_level, "%s: released the %s lease", self.holder, self.name)
        self.epoch, self._valid_until = None, 0.0
        self._held.clear()
        self._lost.set()
        if self.on_change is not None:
            self.on_change(False)
