"""The loopback fake Bot API (fakes/fake_telegram.py) in its own process, with the
P5 load driver (simulated users) running next to it, for `bench/commands.py`.

The bot under test runs in the parent process; this child (multiprocessing, spawn) runs
the fake server and the users, so the bot's CPU figures are its own and the users'
bookkeeping never competes with the bot for its event loop or the GIL.

Every time is `time.monotonic()`, which on Linux is CLOCK_MONOTONIC, one clock for all
processes: the parent joins its handler timings with these by update id.

Per command a user pushes the update (`push_message`: from that moment getUpdates
returns it), then waits until the fake has accepted the bot's answer in that chat:
- first: the first sendMessage/sendPhoto to the chat;
- done: the answer is complete, i.e. a sendMessage, or a sendPhoto with a caption (a
  caption-less photo is followed by the card as text, which completes it).
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from fakes.fake_telegram import FakeTelegram, SentMessage

# One command of a plan: (delay before sending in seconds, chat id, text).
Step = tuple[float, int, str]


@dataclass
class _Pending:
    update_id: int
    future: asyncio.Future[None]
    messages: list[SentMessage] = field(default_factory=list)


class LoadFake(FakeTelegram):
    """FakeTelegram that wakes the waiting user of a chat as soon as an answer lands
    (no scan of every sent message per wake-up) and notes when getUpdates handed each
    update to the bot."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.pushed: dict[int, float] = {}
        self.delivered: dict[int, float] = {}
        self.stray = 0  # answers to chats no user was waiting in
        self._waiting: dict[int, _Pending] = {}

    async def _m_getupdates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        result = await super()._m_getupdates(params)
        now = self._clock()
        for update in result:
            self.delivered.setdefault(update["update_id"], now)
        return result

    async def _m_sendmessage(self, params: dict[str, Any]) -> dict[str, Any]:
        result = await super()._m_sendmessage(params)
        self._arrived(self.sent[-1])
        return result

    async def _m_sendphoto(self, params: dict[str, Any]) -> dict[str, Any]:
        result = await super()._m_sendphoto(params)
        self._arrived(self.sent[-1])
        return result

    def _arrived(self, msg: SentMessage) -> None:
        pending = self._waiting.get(msg.chat_id)
        if pending is None:
            self.stray += 1
            return
        pending.messages.append(msg)
        if msg.method == "sendMessage" or msg.text is not None:
            del self._waiting[msg.chat_id]
            if not pending.future.done():
                pending.future.set_result(None)

    async def ask(self, chat_id: int, text: str, timeout: float) -> dict[str, Any]:
        """One command from one user; returns its timings (seconds since the push)."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        t0 = self._clock()
        update_id = self.push_message(chat_id, text)
        pending = _Pending(update_id, future)
        self._waiting[chat_id] = pending
        self.pushed[update_id] = t0
        timed_out = False
        try:
            await asyncio.wait_for(future, timeout)
        except TimeoutError:
            timed_out = True
            self._waiting.pop(chat_id, None)
        msgs = pending.messages
        return {
            "update_id": update_id,
            "chat_id": chat_id,
            "text": text,
            "t0": t0,
            "timed_out": timed_out,
            "first": msgs[0].ts - t0 if msgs else None,
            "done": msgs[-1].ts - t0 if msgs and not timed_out else None,
            "methods": [
                m.method + ("+caption" if m.text and m.method == "sendPhoto" else "") for m in msgs
            ],
            "head": (msgs[-1].visible[:60] if msgs else ""),
            "photo_bytes": sum(m.photo_bytes for m in msgs),
        }

    async def run_burst(self, rounds: list[list[Step]], gap: float, timeout: float) -> list[Any]:
        """Every round: all its users send at once; the next round starts `gap` seconds
        after the last answer of this one."""
        out: list[dict[str, Any]] = []
        for i, steps in enumerate(rounds):
            if i:
                await asyncio.sleep(gap)
            got = await asyncio.gather(*(self.ask(chat, text, timeout) for _, chat, text in steps))
            for r in got:
                r["round"] = i
            out.extend(got)
        return out

    async def run_steady(self, plans: list[list[Step]], timeout: float) -> list[Any]:
        """Every user on its own: wait its delay, send, wait for the answer, repeat."""

        async def user(steps: list[Step]) -> list[dict[str, Any]]:
            got = []
            for delay, chat, text in steps:
                await asyncio.sleep(delay)
                got.append(await self.ask(chat, text, timeout))
            return got

        out: list[dict[str, Any]] = []
        for got in await asyncio.gather(*(user(p) for p in plans)):
            for r in got:
                r["round"] = 0
            out.extend(got)
        return out


def _serve(conn: Connection, options: dict[str, Any]) -> None:
    asyncio.run(_main(conn, options))


async def _main(conn: Connection, options: dict[str, Any]) -> None:
    loop = asyncio.get_running_loop()
    async with LoadFake(clock=time.monotonic, **options) as fake:
        conn.send((fake.base_url, fake.token))
        while True:
            cmd, *args = await loop.run_in_executor(None, conn.recv)
            if cmd == "stop":
                conn.send(None)
                return
            if cmd == "clear":  # a new bot instance starts from an empty queue
                fake._updates.clear()
                conn.send(None)
            elif cmd == "run":
                mode, plan, gap, timeout = args
                cpu0, t0 = time.process_time(), time.monotonic()
                calls0, rejected0 = sum(fake.calls.values()), len(fake.rejected)
                stray0, flood0 = fake.stray, fake.flood_429s
                if mode == "burst":
                    results = await fake.run_burst(plan, gap, timeout)
                else:
                    results = await fake.run_steady(plan, timeout)
                for r in results:
                    at = fake.delivered.get(r["update_id"])
                    r["delivered"] = None if at is None else at - r["t0"]
                conn.send(
                    {
                        "results": results,
                        "wall": time.monotonic() - t0,
                        "cpu": time.process_time() - cpu0,
                        "calls": sum(fake.calls.values()) - calls0,
                        "rejected": fake.rejected[rejected0:],
                        "stray": fake.stray - stray0,
                        "flood_429s": fake.flood_429s - flood0,
                    }
                )
            else:
                conn.send(RuntimeError(f"unknown command {cmd!r}"))


class FakeTelegramProcess:
    """The parent's handle: start the child, ask it things over a pipe."""

    def __init__(self, **options: Any) -> None:
        ctx = mp.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_serve, args=(child, options), daemon=True)
        self._proc.start()
        child.close()
        self.base_url, self.token = self._conn.recv()

    def ask(self, *msg: Any) -> Any:
        self._conn.send(msg)
        answer = self._conn.recv()
        if isinstance(answer, Exception):
            raise answer
        return answer

    def close(self) -> None:
        try:
            self.ask("stop")
        except (EOFError, OSError, BrokenPipeError):
            pass
        finally:
            self._proc.join(timeout=5)
            if self._proc.is_alive():
                self._proc.terminate()
