"""Every word the bot sends: HTML text and inline keyboards, and nothing else.

One module per screen; this package re-exports them so callers write `render.xxx(...)`
without knowing which screen a text belongs to:

- `format`: escaping, numbers, ages, bands and icons, shared by every screen
- `start`: /start, /help, usage and unknown input
- `replies`: limits, refusals, errors and expired buttons, for any command
- `market`: /top and the /symbol card
- `preferences`: subscriptions, /market, /settings
- `status`: /status
- `results`: what `bot/views/actions.py` returns or refuses, as messages and as toasts
- `alerts`: alerts, digests, catch-up, the daily-cap note, and their buttons
- `rules`: /rule (backtests, the chat's rules, refusals)
- `destinations`: /webhook; `discord_embeds`: alerts as a Discord webhook message

Rules that hold for every module here:
- Parse mode is HTML. Every value that comes from outside (symbols, chat titles, user
  input, error text) goes through `esc()`; numbers are formatted in `format`, never
  elsewhere.
- Only `<pre>` spans several lines, so `bot/telegram/message_limits.py` can split a long
  text between lines and only needs to re-balance `<pre>`.
- Button data is packed by `bot/telegram/callback_data.py`, never spelled out here.
- Rows are duck-typed (`bot.views.market.MarketRow`, `bot.storage.outbox_repo.AlertItem`):
  this package imports no storage and does no I/O.
"""

from __future__ import annotations

from bot.scoring.explain import REGIME_WHY
from bot.telegram.render.action_results import (
    setting_changed,
    setting_label,
    subscribe_result,
    unsubscribe_result,
    user_error,
)
from bot.telegram.render.alerts import (
    CATCHUP_LINES,
    DIGEST_FULL,
    DIGEST_LINES,
    alert_keyboard,
    alert_message,
    cap_note,
    catchup_text,
    outbox_message,
)
from bot.telegram.render.destinations import (
    destination_added,
    destination_deactivated,
    destination_list,
    destination_refused,
    destination_removed,
    destination_tested,
    secret_in_private,
    secret_not_delivered,
    webhook_usage,
)
from bot.telegram.render.discord_embeds import discord_message, discord_test_message
from bot.telegram.render.format import (
    BAND_ICON,
    BAND_ORDER,
    BIAS_LETTER,
    DASH,
    age,
    band_range,
    compact_pct,
    esc,
    pct,
    price,
    short_symbol,
)
from bot.telegram.render.liquidations import top_liq_message
from bot.telegram.render.market import (
    FILTER_TITLES,
    TABLE_WIDTH,
    chart_unavailable,
    market_loaded_subscribed,
    market_loaded_unknown,
    market_loading,
    suggestion_keyboard,
    summary_line,
    symbol_card,
    symbol_keyboard,
    symbol_not_scanned,
    top_keyboard,
    top_message,
    top_table,
    unknown_symbol,
)
from bot.telegram.render.preferences import (
    MAX_REMOVE_BUTTONS,
    daily_cap_set,
    direction_set,
    kinds_text,
    market_keyboard,
    market_text,
    min_band_set,
    mute_set,
    muted_for,
    other_venue_subscriptions,
    quiet_hours_off,
    quiet_hours_set,
    settings_changed,
    settings_keyboard,
    settings_text,
    subscribed,
    subscription_cap,
    subscriptions_keyboard,
    subscriptions_text,
    timezone_set,
    unknown_timezone,
    unmuted,
    unsubscribed,
    venue_subscriptions_header,
)
from bot.telegram.render.replies import (
    argument_too_long,
    group_admins_only,
    group_rate_limited,
    internal_error,
    no_data,
    not_admin,
    rate_limited,
    stale_button,
)
from bot.telegram.render.rules import (
    builtin_list,
    rule_added,
    rule_error,
    rule_fields,
    rule_list,
    rule_refused,
    rule_removed,
    rule_test,
    rule_usage,
)
from bot.telegram.render.start import (
    USAGE,
    bad_argument,
    help_text,
    nudge,
    start_keyboard,
    start_text,
    unknown_command,
    usage,
)
from bot.telegram.render.status import status_text

__all__ = [
    "BAND_ICON",
    "BAND_ORDER",
    "BIAS_LETTER",
    "CATCHUP_LINES",
    "DASH",
    "DIGEST_FULL",
    "DIGEST_LINES",
    "FILTER_TITLES",
    "MAX_REMOVE_BUTTONS",
    "REGIME_WHY",
    "TABLE_WIDTH",
    "USAGE",
    "age",
    "alert_keyboard",
    "alert_message",
    "argument_too_long",
    "bad_argument",
    "band_range",
    "builtin_list",
    "cap_note",
    "catchup_text",
    "chart_unavailable",
    "compact_pct",
    "daily_cap_set",
    "destination_added",
    "destination_deactivated",
    "destination_list",
    "destination_refused",
    "destination_removed",
    "destination_tested",
    "direction_set",
    "discord_message",
    "discord_test_message",
    "esc",
    "group_admins_only",
    "group_rate_limited",
    "help_text",
    "internal_error",
    "kinds_text",
    "market_keyboard",
    "market_loaded_subscribed",
    "market_loaded_unknown",
    "market_loading",
    "market_text",
    "min_band_set",
    "mute_set",
    "muted_for",
    "no_data",
    "not_admin",
    "nudge",
    "other_venue_subscriptions",
    "outbox_message",
    "pct",
    "price",
    "quiet_hours_off",
    "quiet_hours_set",
    "rate_limited",
    "rule_added",
    "rule_error",
    "rule_fields",
    "rule_list",
    "rule_refused",
    "rule_removed",
    "rule_test",
    "rule_usage",
    "secret_in_private",
    "secret_not_delivered",
    "setting_changed",
    "setting_label",
    "settings_changed",
    "settings_keyboard",
    "settings_text",
    "short_symbol",
    "stale_button",
    "start_keyboard",
    "start_text",
    "status_text",
    "subscribe_result",
    "subscribed",
    "subscription_cap",
    "subscriptions_keyboard",
    "subscriptions_text",
    "suggestion_keyboard",
    "summary_line",
    "symbol_card",
    "symbol_keyboard",
    "symbol_not_scanned",
    "timezone_set",
    "top_keyboard",
    "top_liq_message",
    "top_message",
    "top_table",
    "unknown_command",
    "unknown_symbol",
    "unknown_timezone",
    "unmuted",
    "unsubscribe_result",
    "unsubscribed",
    "usage",
    "user_error",
    "venue_subscriptions_header",
    "webhook_usage",
]
