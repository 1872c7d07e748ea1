"""Numbers in the venues' JSON rows as typed values, shared by every adapter.

The venues send prices, rates and OI as strings (Binance, Bybit, OKX alike) and times as
integer milliseconds, or strings of them. A field that is missing, not a number, not
finite or below its floor raises ValueError, so the caller can drop the one bad row (or
symbol) and keep the rest of the answer.
"""

from __future__ import annotations

import math
from typing import Any


def number(row: Any, key: str, *, minimum: float | None = None, strict: bool = False) -> float:
    """row[key] as a finite float; `minimum` is a floor (exclusive when `strict`)."""
    if not isinstance(row, dict) or row.get(key) is None:
        raise ValueError(f"{key} missing")
    raw = row[key]
    if isinstance(raw, bool) or not isinstance(raw, str | int | float):
        raise ValueError(f"{key}={raw!r}")
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{key}={raw!r}") from None
    if not math.isfinite(value):
        raise ValueError(f"{key}={raw!r}")
    if minimum is not None and (value <= minimum if strict else value < minimum):
        raise ValueError(f"{key}={raw!r}")
    return value


def to_int(raw: Any) -> int:
    """Epoch ms or a count, sent as an int or a string of one."""
    if isinstance(raw, bool):
        raise ValueError(f"not an integer: {raw!r}")
    if isinstance(raw, int):
        return raw
    if isinstance(raw, str):
        try:
            return int(raw)
        except ValueError:
            pass  # "1.7e12" and the like: fall through to float
    if isinstance(raw, str | float):
        value = float(raw)
        if math.isfinite(value):
            return int(value)
    raise ValueError(f"not an integer: {raw!r}")


def int_or_none(raw: Any) -> int | None:
    try:
        return to_int(raw)
    except (ValueError, TypeError):
        return None


def hours_from_ms(interval_ms: int) -> int | None:
    """A funding interval in whole hours (at least 1), or None when it makes no sense."""
    if interval_ms <= 0:
        return None
    return max(1, round(interval_ms / 3_600_000))
