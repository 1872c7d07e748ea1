"""Pacing: flood-control limits under jitter, RetryAfter, reply priority
(bot/telegram/flood_control.py, bot/telegram/sender.py)."""

from __future__ import annotations

import asyncio
import itertools
import random
from datetime import timedelta

import pytest
from telegram.error import RetryAfter

from bot.telegram.flood_control import FloodControl, PriorityGate, Slot
from bot.telegram.sender import Priority, retry_after_seconds
from fakes.fake_telegram import _Window

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")


def simulate(
    flood: FloodControl, chats: list[int], n: int, seed: int = 0, max_latency: float = 0.0
) -> list[tuple[float, int]]:
    """Send n messages round-robin over chats as fast as the flood control allows, with
    random network latency; returns (arrival time at Telegram, chat) per message."""
    rng = random.Random(seed)
    now, arrivals = 0.0, []
    in_flight: list[tuple[float, Slot]] = []
    queue = [chats[i % len(chats)] for i in range(n)]
    while queue:
        for done in [f for f in in_flight if f[0] <= now]:
            flood.complete(done[1], done[0])
            in_flight.remove(done)
        chat = min(queue[:50], key=lambda c: flood.wait_chat(c, now))
        wait = max(flood.wait_global(now), flood.wait_chat(chat, now))
        if wait > 0:
            upcoming = [f[0] - now for f in in_flight if f[0] > now]
            now += min([wait, *upcoming])
            continue
        slot = flood.record(chat, now)
        latency = rng.uniform(0.001, max_latency) if max_latency else 0.0
        arrivals.append((now + rng.uniform(0, latency), chat))  # anywhere on the way
        in_flight.append((now + latency, slot))
        queue.remove(chat)
    return sorted(arrivals)


def check_like_the_fake(arrivals: list[tuple[float, int]]) -> int:
    """Count the 429s the fake's rules would give messages arriving at these times."""
    violations = 0
    glob = _Window(30, 1.0)
    groups: dict[int, _Window] = {}
    tokens: dict[int, tuple[float, float]] = {}
    for t, chat in arrivals:
        if glob.retry_after(t) > 0:
            violations += 1
        glob.times.append(t)
        if chat > 0:
            tok, at = tokens.get(chat, (3.0, t))
            tok = min(3.0, tok + (t - at))
            violations += tok < 1
            tokens[chat] = (tok - 1, t)
        else:
            w = groups.setdefault(chat, _Window(20, 60.0))
            violations += w.retry_after(t) > 0
            w.times.append(t)
    return violations


@pytest.mark.parametrize("max_latency", [0.0, 0.005, 0.05, 0.3])
def test_flood_control_keeps_every_limit_whatever_the_jitter(max_latency):
    flood = FloodControl()
    arrivals = simulate(flood, list(range(1, 501)), 3000, seed=7, max_latency=max_latency)
    assert check_like_the_fake(arrivals) == 0
    rate = len(arrivals) / (arrivals[-1][0] - arrivals[0][0])
    assert rate <= 30.0
    if max_latency <= 0.005:
        assert rate >= 29.0


def test_flood_control_private_chat_burst_then_one_per_second():
    sends = simulate(FloodControl(), [7], 10)
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(sends)]
    assert check_like_the_fake(sends) == 0
    assert sends[2][0] < 0.2 and all(g >= 1.0 for g in gaps[3:])


def test_flood_control_group_twenty_per_minute():
    sends = simulate(FloodControl(), [-5], 45, max_latency=0.1)
    assert check_like_the_fake(sends) == 0
    assert sends[20][0] >= 60 and sends[40][0] >= 120


def test_retry_after_read_as_int_or_timedelta():
    assert retry_after_seconds(RetryAfter(3)) == 3
    assert retry_after_seconds(RetryAfter(timedelta(seconds=7))) == 7


async def test_replies_jump_the_broadcast_queue():
    gate, order = PriorityGate(), []
    await gate.acquire(Priority.BROADCAST)

    async def wait(name: str, prio: Priority) -> None:
        await gate.acquire(prio)
        order.append(name)
        gate.release()

    tasks = [
        asyncio.create_task(wait("b1", Priority.BROADCAST)),
        asyncio.create_task(wait("b2", Priority.BROADCAST)),
        asyncio.create_task(wait("reply", Priority.REPLY)),
    ]
    await asyncio.sleep(0)
    gate.release()
    await asyncio.gather(*tasks)
    assert order == ["reply", "b1", "b2"]
