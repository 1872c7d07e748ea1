"""Leases on both engines: one holder at a time, takeover after expiry, fencing."""

from __future__ import annotations

import asyncio

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.storage import leases


async def _acquire(
    sessions: async_sessionmaker[AsyncSession], holder: str, ttl_ms: int = 60_000
) -> int | None:
    async with sessions() as session, session.begin():
        return await leases.try_acquire(session, leases.SCORER, holder, ttl_ms)


async def test_one_holder_at_a_time_and_renewal_keeps_the_epoch(sessions) -> None:
    first = await _acquire(sessions, "a")
    assert first is not None
    assert await _acquire(sessions, "b") is None
    assert await _acquire(sessions, "a") == first  # a renewal, not a new holder
    async with sessions() as session:
        info = await leases.current(session, leases.SCORER)
    assert info is not None and info.holder == "a" and info.live
    assert 50 < info.expires_in_seconds <= 60


async def test_an_expired_lease_is_taken_over_with_a_new_epoch_and_fences_the_old(
    sessions,
) -> None:
    old = await _acquire(sessions, "a", ttl_ms=1)
    assert old is not None
    await asyncio.sleep(0.01)  # past a 1 ms lease on the database clock
    new = await _acquire(sessions, "b")
    assert new == old + 1
    async with sessions() as session, session.begin():
        assert not await leases.fence(session, leases.SCORER, "a", old, 60_000)
        assert await leases.fence(session, leases.SCORER, "b", new, 60_000)
    assert await _acquire(sessions, "a") is None


async def test_release_hands_over_at_once(sessions) -> None:
    assert await _acquire(sessions, "a") is not None
    async with sessions() as session, session.begin():
        assert await leases.release(session, leases.SCORER, "a")
    assert await _acquire(sessions, "b") is not None


async def test_database_clock_is_epoch_milliseconds(sessions) -> None:
    import time

    async with sessions() as session:
        now = await leases.db_now_ms(session)
    assert abs(now - time.time() * 1000) < 5_000


async def test_keeper_takes_over_when_the_holder_stops(sessions) -> None:
    changes: list[tuple[str, bool]] = []
    a = leases.LeaseKeeper(sessions, leases.UPDATES, "a", 3.0, lambda h: changes.append(("a", h)))
    b = leases.LeaseKeeper(sessions, leases.UPDATES, "b", 3.0, lambda h: changes.append(("b", h)))
    stop_a, stop_b = asyncio.Event(), asyncio.Event()
    task_a = asyncio.create_task(a.run(stop_a))
    await asyncio.wait_for(a.wait_held(), 5)
    task_b = asyncio.create_task(b.run(stop_b))
    await asyncio.sleep(0)
    await b.tick()
    assert a.held and not b.held
    stop_a.set()  # a clean stop releases: b takes it at its next try, within ttl/3
    await task_a
    await asyncio.wait_for(b.wait_held(), 3)
    assert b.held and not a.held
    stop_b.set()
    await task_b
    assert changes == [("a", True), ("a", False), ("b", True), ("b", False)]


async def test_two_live_processes_under_one_name_never_both_hold(sessions, caplog) -> None:
    """A copied config (or a container scaled with the name baked in): two live
    processes with one replica name. Only the one that took the lease last holds it,
    the other's fence fails, and the log says what is wrong."""
    first = leases.LeaseKeeper(sessions, leases.SCORER, "pb", 30.0)
    twin = leases.LeaseKeeper(sessions, leases.SCORER, "pb", 30.0)
    await first.tick()
    assert first.held and first.epoch is not None
    old_epoch = first.epoch
    await twin.tick()  # cannot tell itself from a restart of the first: it takes over
    await first.tick()
    assert twin.held and not first.held
    async with sessions() as session, session.begin():
        assert not await leases.fence(session, leases.SCORER, "pb", old_epoch, 30_000)
    for _ in range(2):  # and it stays that way: no ping-pong
        await twin.tick()
        await first.tick()
        assert twin.held and not first.held
    assert "another live process runs under this replica name" in caplog.text


async def test_a_restart_under_the_same_name_takes_its_live_lease_at_once(sessions) -> None:
    dead = leases.LeaseKeeper(sessions, leases.SCORER, "pb", 30.0)
    await dead.tick()  # then kill -9: no release, the lease stays live for 30 s
    restarted = leases.LeaseKeeper(sessions, leases.SCORER, "pb", 30.0)
    await restarted.tick()
    assert restarted.held
    await restarted.tick()
    assert restarted.held
