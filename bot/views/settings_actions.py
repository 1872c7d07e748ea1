"""What a chat can change about its alerts (`/settings`): band, direction, mute, time
zone, quiet hours and the daily cap, from the words a user types or a button carries."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from bot.config import BAND_NAMES
from bot.storage import chat_repo
from bot.views.actions import ActionContext, SettingChanged, SettingsView, UserError
from bot.zones import canonical

MUTE_MAX_HOURS = 24 * 7
DAILY_CAP_MAX = 500
TZ_WORDS = ("tz", "timezone", "time_zone", "zone")
_QUIET = re.compile(r"^(\d{1,2})(?::(\d{2}))?-(\d{1,2})(?::(\d{2}))?$")


async def apply_setting(ctx: ActionContext, chat_id: int, args: Sequence[str]) -> SettingChanged:
    """Change one setting from words like ['band', 'lean'] or ['mute', '8']."""
    change = await _parse_setting(ctx, chat_id, list(args))
    if change is None:
        raise UserError("not_understood", words=" ".join(args))
    changed, values = change
    async with ctx.sessions() as session, session.begin():
        await chat_repo.update_chat_settings(session, chat_id, **values)
    return changed


_Change = tuple[SettingChanged, dict[str, Any]]


async def _parse_setting(ctx: ActionContext, chat_id: int, args: list[str]) -> _Change | None:
    words = [a.lower() for a in args]
    if words and words[0] in ("band", "min", "minband", "min_band"):
        words = words[1:]
    if len(words) == 1 and words[0] in BAND_NAMES:
        return SettingChanged("min_band", words[0]), {"min_band": words[0]}
    key, value = ([*words, "", ""])[:2]
    if key in ("direction", "dir"):
        key, value = value, ""
    if key in ("up", "both") and not value:
        return SettingChanged("direction", key), {"direction": key}
    if key == "unmute" or (key == "mute" and value in ("off", "0", "no")):
        return SettingChanged("unmute"), {"muted_until_ms": None}
    if key == "mute" and _number(value) and 1 <= int(value) <= MUTE_MAX_HOURS:
        until = ctx.now_ms() + int(value) * 3_600_000
        return SettingChanged("mute", int(value)), {"muted_until_ms": until}
    if key in TZ_WORDS and len(args) >= 2:
        typed = args[1]  # zone names are matched case-insensitively, shown canonically
        tz = canonical(typed)
        if tz is None:
            raise UserError("unknown_timezone", value=typed)
        return SettingChanged("timezone", tz), {"tz": tz}
    if key in ("cap", "dailycap", "daily_cap", "limit"):
        return _daily_cap(value)
    if key == "quiet":
        return await _quiet_hours(ctx, chat_id, value)
    return None


def _number(word: str) -> bool:
    """ASCII digits only: str.isdigit() also accepts '²' and '①', which int() rejects."""
    return word.isascii() and word.isdigit()


def _daily_cap(value: str) -> _Change | None:
    if value in ("off", "none", "no", "0"):
        return SettingChanged("daily_cap", 0), {"daily_cap": 0}
    if _number(value) and 1 <= int(value) <= DAILY_CAP_MAX:
        return SettingChanged("daily_cap", int(value)), {"daily_cap": int(value)}
    return None


async def _quiet_hours(ctx: ActionContext, chat_id: int, value: str) -> _Change | None:
    if value in ("off", "no", "none"):
        return SettingChanged("quiet_off"), {"quiet_start_min": None, "quiet_end_min": None}
    m = _QUIET.match(value)
    if not m:
        return None
    start = int(m[1]) * 60 + int(m[2] or 0)
    end = int(m[3]) * 60 + int(m[4] or 0)
    minutes_ok = all(int(x or 0) < 60 for x in (m[2], m[4]))
    # 0-24 would wrap to an empty 0-0 window, which means "no quiet hours".
    if not (minutes_ok and start <= 24 * 60 and end <= 24 * 60 and start % 1440 != end % 1440):
        return None
    async with ctx.sessions() as session:
        chat = await chat_repo.get_chat(session, chat_id)
    values = {"quiet_start_min": start % 1440, "quiet_end_min": end % 1440}
    return SettingChanged("quiet", value, tz=chat.tz if chat else None), values


async def settings(ctx: ActionContext, chat_id: int) -> SettingsView:
    async with ctx.sessions() as session:
        chat = await chat_repo.get_chat(session, chat_id)
    assert chat is not None  # callers register the chat first
    return SettingsView(chat, ctx.now_ms(), ctx.settings.alerts.daily_cap)
