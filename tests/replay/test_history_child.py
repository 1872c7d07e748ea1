"""The recorded history scored in a child process (bot/replay/history_child.py) gives
the service exactly what scoring it in the service's own process gave: the same
lookalike states and answers, the same built-in evidence, the same rule rows."""

from __future__ import annotations

import gzip
import os
import signal
from pathlib import Path

import numpy as np
import pytest

from bot.config import Settings
from bot.replay.history_sources import load_both
from bot.replay.lookalike_history import load_state_library
from bot.replay.rule_history import load_history_rows
from bot.views.builtin_rules import measure
from bot.views.lookalike import INPUTS, nearest
from tests.replay.shipped import DATA


def small_history(path: Path) -> str:
    """Two coins' first 50 days of 2024 in the shipped file (enough for lookalike states)."""
    with gzip.open(DATA, "rt") as src, path.open("w") as out:
        out.write(next(src))
        for line in src:
            ts, symbol = line.split(",", 2)[:2]
            if symbol in ("DOGEUSDT", "SOLUSDT") and "2024-01-01" <= ts < "2024-02-20":
                out.write(line)
    return str(path)


def test_the_child_process_gives_the_old_paths_answers(tmp_path: Path) -> None:
    settings = Settings()
    path = small_history(tmp_path / "small.csv")
    old_states = load_state_library(settings, path)
    old_rows = load_history_rows(settings, path)
    new = load_both(settings, path=path)
    with_rows = load_both(settings, rows=True, path=path)
    assert new is not None and new.states is not None and new.rows is None
    assert with_rows is not None and with_rows.rows is not None

    assert set(new.states.by_symbol) == set(old_states.by_symbol) == {"DOGEUSDT", "SOLUSDT"}
    assert new.states.source == old_states.source == "small.csv"
    for symbol, old in old_states.by_symbol.items():
        got = new.states.by_symbol[symbol]
        for name in ("ts_ms", "ranks", "move_24h", "excursion_24h"):
            assert np.array_equal(getattr(got, name), getattr(old, name))
        # the answer for states drawn from the history itself, one input left out each
        for k, i in enumerate(range(0, len(old.ts_ms), 97)):
            now: dict[str, float | None] = {
                n: float(old.sorted_inputs[j][i]) for j, n in enumerate(INPUTS)
            }
            now[INPUTS[k % 5]] = None
            assert nearest(got, now, source="x") == nearest(old, now, source="x")

    assert new.evidence == with_rows.evidence == measure(old_rows)
    assert any(b is not None and b.hours for b in new.evidence.values())
    assert with_rows.rows.symbols == old_rows.symbols
    assert np.array_equal(with_rows.rows.ts_ms, old_rows.ts_ms)
    assert np.array_equal(with_rows.rows.values, old_rows.values, equal_nan=True)
    assert np.array_equal(with_rows.rows.fwd_24h, old_rows.fwd_24h, equal_nan=True)


def test_a_missing_file_is_none_not_a_crash(tmp_path: Path) -> None:
    assert load_both(Settings(), path=str(tmp_path / "absent.csv.gz")) is None


def test_a_child_that_dies_is_no_history_not_a_retry_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed (say, out of memory) mid-load: one warning, None (kept by LoadOnce)."""
    from bot.replay import history_sources

    monkeypatch.setattr(history_sources, "load_recorded", _die)
    assert load_both(Settings(), path=small_history(tmp_path / "small.csv")) is None


def _die(*args: object, **kwargs: object) -> None:
    os.kill(os.getpid(), signal.SIGKILL)
