"""Words for what `bot/views/actions.py` returns or refuses.

Every function takes `plain=True` for callback toasts (answerCallbackQuery has no parse
mode): the plain text is worded here, never derived by stripping HTML.
"""

from __future__ import annotations

from bot.telegram.render.preferences import (
    daily_cap_set,
    direction_set,
    min_band_set,
    mute_set,
    quiet_hours_off,
    quiet_hours_set,
    settings_changed,
    subscribed,
    subscription_cap,
    timezone_set,
    unknown_timezone,
    unmuted,
    unsubscribed,
)
from bot.telegram.render.start import bad_argument
from bot.views.actions import SettingChanged, SubscribeResult, UnsubscribeResult, UserError

TOAST_MAX = 200  # Telegram's limit for answerCallbackQuery text


def _toast(text: str, plain: bool) -> str:
    return text[:TOAST_MAX] if plain else text


def subscribe_result(result: SubscribeResult, *, plain: bool = False) -> str:
    text = subscribed(result.symbol, result.kinds, result.min_band, result.already, plain=plain)
    return _toast(text, plain)


def unsubscribe_result(result: UnsubscribeResult, *, plain: bool = False) -> str:
    return _toast(unsubscribed(result.symbol, result.removed, plain=plain), plain)


def setting_label(change: SettingChanged) -> str:
    """Plain text; `settings_changed` escapes it once."""
    match change.setting:
        case "min_band":
            return min_band_set(change.value)
        case "direction":
            return direction_set(change.value)
        case "unmute":
            return unmuted()
        case "mute":
            return mute_set(change.value)
        case "timezone":
            return timezone_set(change.value)
        case "daily_cap":
            return daily_cap_set(change.value)
        case "quiet_off":
            return quiet_hours_off()
        case "quiet":
            return quiet_hours_set(change.value, change.tz)
    raise ValueError(f"no words for setting {change.setting!r}")


def setting_changed(change: SettingChanged, *, plain: bool = False) -> str:
    return _toast(settings_changed(setting_label(change), plain=plain), plain)


def user_error(error: UserError, command: str, *, plain: bool = False) -> str:
    """A refusal in words; `command` names the usage line for words not understood."""
    params = error.params
    match error.code:
        case "over_cap":
            text = subscription_cap(params["cap"])
        case "unknown_timezone":
            text = unknown_timezone(params["value"], plain=plain)
        case _:
            text = bad_argument(str(params.get("words", "")), command)
    return _toast(text, plain)
