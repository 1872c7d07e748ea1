"""`asyncio.run` for a coroutine whose result is large (a replay's scored hours).

On the main thread, CPython 3.11's `asyncio.run` installs a SIGINT handler that holds the
main task, and on the way out calls `signal.getsignal` and `signal.signal`; both try the
handler as a `signal.Handlers` member, and the failed enum lookup formats its error with
`repr(handler)`: the task's repr, which includes the repr of its result. For a replay that
is the repr of every scored hour, twice: about 1.8 s of CPU for a verify-period replay,
thrown away. Here the result leaves the coroutine beside the task, not as its result.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run_for_result(coro: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run(coro)`, without formatting the result's repr on the way out."""
    box: list[T] = []

    async def main() -> None:
        box.append(await coro)

    asyncio.run(main())
    return box[0]
