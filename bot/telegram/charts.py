"""The /symbol charts' cache: each chart drawn once per (symbol, newest point), in a
worker thread, by bot/telegram/chart_figure.py; bot/telegram/chart_prerender.py draws
the ones users open ahead after each cycle.

matplotlib (with PIL) costs about half a second of CPU and tens of MB to import, so it
is imported on the first chart drawn, not at start: a worker or scorer replica, a
headless run, or a bot whose users never open a chart never pays for it.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence

from bot.scoring.formula import DEFAULT_PARAMS, ScoringParams


def _draw(symbol: str, points: list[Sequence[float]], params: ScoringParams) -> bytes:
    from bot.telegram.chart_figure import render_chart  # matplotlib: see the docstring

    return render_chart(symbol, points, params)


class ChartCache:
    """Recent charts, least recently used first out, keyed by (symbol, newest point's ts,
    number of points): a new cycle adds a point, so its key differs and the old chart is
    never served for it. Pure derived data, so an in-process cache is safe with several
    replicas. Concurrent requests for the same chart share one rendering.

    It also remembers which charts users opened, and when: the pre-renderer draws those
    again after each cycle (bot/telegram/chart_prerender.py)."""

    def __init__(
        self,
        size: int = 64,
        params: ScoringParams = DEFAULT_PARAMS,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._on_request = size  # room for charts drawn on request
        self._size = size
        self.params = params  # Deps sets the configured ones; one set per process
        self._clock = clock
        self._items: OrderedDict[tuple[str, int, int], bytes] = OrderedDict()
        self._pending: dict[tuple[str, int, int], asyncio.Task[bytes]] = {}
        self._viewed: dict[str, float] = {}  # chart label -> when a user last asked for it

    async def get(
        self, symbol: str, points: Sequence[Sequence[float]], *, viewed: bool = True
    ) -> bytes:
        """The chart, drawn once per key. `viewed`: a user asked for it (the
        pre-renderer passes False), so it is drawn ahead after the next cycles too."""
        if viewed:
            self._viewed[symbol] = self._clock()
        key = (symbol, int(points[-1][0]) if points else 0, len(points))
        png = self._items.get(key)
        if png is not None:
            self._items.move_to_end(key)
            return png
        task = self._pending.get(key)
        if task is None:
            # A task of its own, not the caller's: a caller that goes away (a cancelled
            # pre-render, a stopped handler) neither cancels it nor fails the others.
            task = asyncio.get_running_loop().create_task(
                asyncio.to_thread(_draw, symbol, list(points), self.params)
            )
            self._pending[key] = task
            task.add_done_callback(functools.partial(self._store, key))
        return await asyncio.shield(task)

    def viewed_within(self, seconds: float) -> set[str]:
        """Charts users asked for in the last `seconds`; older ones are forgotten."""
        since = self._clock() - seconds
        self._viewed = {label: at for label, at in self._viewed.items() if at >= since}
        return set(self._viewed)

    def reserve(self, ahead: int) -> None:
        """Room for `ahead` charts drawn ahead besides the ones drawn on request."""
        self._size = self._on_request + ahead

    def __contains__(self, key: tuple[str, int, int]) -> bool:
        return key in self._items

    def __len__(self) -> int:
        return len(self._items)

    def _store(self, key: tuple[str, int, int], task: asyncio.Task[bytes]) -> None:
        self._pending.pop(key, None)
        if task.cancelled() or task.exception() is not None:  # retrieved: no warning
            return
        self._items[key] = task.result()
        while len(self._items) > self._size:
            self._items.popitem(last=False)
