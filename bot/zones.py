"""IANA time zones for chats: resolve a stored name, and recognise what a user typed.

Chats store the canonical IANA name (`chats.tz`, null = UTC). Names are looked up
case-insensitively, so "europe/berlin" is Europe/Berlin.
"""

from __future__ import annotations

import functools
import zoneinfo
from datetime import tzinfo

UTC_NAME = "UTC"


@functools.cache
def _by_lower() -> dict[str, str]:
    # available_timezones() walks the tz database once (tens of ms): cache it.
    names = {name.lower(): name for name in zoneinfo.available_timezones()}
    names.setdefault("utc", UTC_NAME)
    return names


def canonical(name: str) -> str | None:
    """The IANA name for what the user typed, or None if it is not a known zone."""
    cleaned = name.strip()
    if not cleaned or len(cleaned) > 64:
        return None
    found = _by_lower().get(cleaned.lower())
    if found is None or (found != UTC_NAME and zone(found) is None):
        return None
    return found


@functools.cache
def zone(name: str | None) -> tzinfo | None:
    """The zone of a stored name; None for UTC, null, or a name this system lacks (a
    chat is then treated as UTC rather than failing every cycle)."""
    if not name or name.upper() == UTC_NAME:
        return None
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return None
