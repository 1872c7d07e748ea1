"""What the browser tests share: Debian's `chromium` (which .ci/run installs) driven by
Playwright (its own browser downloads are not used), and where screenshots go.

With PRESSUREBOT_TEST_SCREENSHOTS=1 the tests save the README's screenshots in docs/img/.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("PRESSUREBOT_TEST_CHROMIUM") or next(
    (p for p in ("/usr/bin/chromium", shutil.which("chromium") or "") if p and Path(p).exists()),
    None,
)
MARKS = [
    pytest.mark.slow,
    pytest.mark.skipif(
        CHROMIUM is None,
        reason="no chromium binary (apt-get install chromium; .ci/run does it) "
        "or PRESSUREBOT_TEST_CHROMIUM=/path/to/chromium",
    ),
]


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    playwright_api = pytest.importorskip(
        "playwright.async_api", reason="pip package playwright is not installed"
    )
    async with playwright_api.async_playwright() as p:
        b = await p.chromium.launch(executable_path=CHROMIUM)
        try:
            yield b
        finally:
            await b.close()


def shot(name: str) -> Path | None:
    if os.environ.get("PRESSUREBOT_TEST_SCREENSHOTS") != "1":
        return None
    (ROOT / "docs" / "img").mkdir(parents=True, exist_ok=True)
    return ROOT / "docs" / "img" / name


def watch(page: Any) -> tuple[list[str], list[str]]:
    """Dialogs (a script that ran) and errors (a page error, a console error such as
    a CSP refusal) the page shows from now on; both must stay empty."""
    dialogs: list[str] = []
    errors: list[str] = []
    page.on("dialog", lambda d: dialogs.append(d.message))
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    return dialogs, errors
