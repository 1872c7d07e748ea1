"""The vendored chart library: its licence ships with it, and the version the file
says it is matches what SOURCE.md and the README record (so an update updates both)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
UPLOT = ROOT / "bot" / "web" / "static" / "vendor" / "uplot"


def test_uplot_ships_with_its_licence_and_one_recorded_version() -> None:
    assert (UPLOT / "LICENSE").read_text().startswith("The MIT License")
    header = (UPLOT / "uPlot.iife.min.js").read_text()[:200]
    found = re.search(r"uPlot \(v(\d+\.\d+\.\d+)\)", header)
    assert found is not None, header
    version = found.group(1)
    assert f"# uPlot {version}, vendored" in (UPLOT / "SOURCE.md").read_text()
    assert f"uPlot {version} (vendored, MIT)" in (ROOT / "README.md").read_text()
    assert (UPLOT / "uPlot.min.css").stat().st_size > 0
