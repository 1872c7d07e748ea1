"""The one-line machine description every benchmark prints beside its figures."""

from __future__ import annotations

import contextlib
import os
import platform
import sqlite3
from pathlib import Path


def machine() -> str:
    model = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    cores = os.cpu_count()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cores
    return (
        f"{model}, {cores} logical cores ({usable} usable); "
        f"Python {platform.python_version()} ({platform.python_implementation()}); "
        f"SQLite {sqlite3.sqlite_version}; {platform.system()} {platform.release()}"
    )
