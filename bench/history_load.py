"""What loading the shipped history for lookalikes and the built-ins' evidence costs
the service process (docs/operations.md, "Recorded history in the bot").

    .venv/bin/python bench/history_load.py

Each path runs in a fresh interpreter that imports the service's modules first, so the
figures are the load's own: VmHWM (peak RSS) and VmRSS of that process before and after,
its CPU and that of its children.
- ours: `load_both` (bot/replay/history_sources.py): read and scored in a spawned child
  process, only the compact results (numpy states, evidence) come back;
- the peer: the same work in the process itself (`load_recorded`, as the service did in
  a thread before).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _machine import machine  # bench/ is sys.path[0] when a script runs

CHILD = """
import json, resource, sys, time
from bot.config import Settings
from bot.replay import history_sources, history_child

def mem():
    return {l.split(":")[0]: int(l.split()[1]) // 1024 for l in open("/proc/self/status")
            if l.startswith(("VmHWM", "VmRSS"))}

if __name__ == "__main__":
    s = Settings()
    before = mem()
    t = time.process_time()
    if sys.argv[1] == "child":
        got = history_sources.load_both(s)
    else:
        got = history_child.load_recorded(s.scoring, s.scorer.window_tolerance_seconds * 1000)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(json.dumps({"before": before, "after": mem(), "cpu_s": time.process_time() - t,
                      "children_cpu_s": kids.ru_utime + kids.ru_stime,
                      "children_peak_mb": kids.ru_maxrss // 1024,
                      "symbols": len(got.states.by_symbol)}))
"""


def run(path: str) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, path], capture_output=True, text=True, check=True
    )
    return dict(json.loads(out.stdout))


def main() -> None:
    print(machine())
    for name, path in (("ours (child process)", "child"), ("in the service", "inline")):
        r = run(path)
        b, a = r["before"], r["after"]
        print(
            f"{name:22} service peak RSS {b['VmHWM']} -> {a['VmHWM']} MB, RSS after "  # type: ignore[index]
            f"{a['VmRSS']} MB; CPU {r['cpu_s']:.1f} s here + {r['children_cpu_s']:.1f} s in "  # type: ignore[index]
            f"children (child peak {r['children_peak_mb']} MB); {r['symbols']} symbols"
        )


if __name__ == "__main__":
    main()
