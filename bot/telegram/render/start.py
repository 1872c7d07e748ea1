"""/start, /help, and the replies that teach the commands (usage, unknown input)."""

from __future__ import annotations

from collections.abc import Sequence

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.scoring.formula import DEFAULT_PARAMS, ScoringParams
from bot.telegram.callback_data import ShowSymbol, ShowTop
from bot.telegram.render.format import BAND_ICON, BAND_ORDER, band_range, esc

# How to type each command, for /help and the usage replies (keyed by the names in
# bot/telegram/command_table.py).
USAGE = {
    "top": "/top [N] [long|short|squeeze|liq], e.g. /top 20 short",
    "symbol": "/symbol BTC",
    "subscribe": "/subscribe BTC [bands|squeeze|liquidations|both|all] (band changes when omitted)",
    "unsubscribe": "/unsubscribe BTC, or /unsubscribe all",
    "subscriptions": "/subscriptions",
    "market": "/market stressed|stretched|squeeze|liquidations|off",
    "settings": "/settings band lean · /settings direction up|both · /settings tz Europe/Berlin "
    "· /settings quiet 22-07|off · /settings mute 8|off · /settings cap 20|off",
    "rule": "/rule add NAME CONDITION [for N cycles] [on SYMBOL] · /rule test CONDITION · "
    "/rule list · /rule remove NAME · /rule fields · /rule builtin · /rule on|off NAME",
    "webhook": "/webhook add discord|https URL · /webhook list · /webhook test · /webhook remove N",
    "help": "/help",
}


def start_text(first_name: str | None, params: ScoringParams = DEFAULT_PARAMS) -> str:
    hello = f"Hi {esc(first_name)}!" if first_name else "Hi!"
    bands = " · ".join(f"{BAND_ICON[b]} {band_range(b, params)} {b}" for b in BAND_ORDER)
    return (
        f"{hello} I score every Binance perpetual 0-100 for <b>derivatives stress</b>: "
        "open-interest build-up, funding and basis, in one number.\n\n"
        f"{bands}\n\n"
        "Try it: tap <b>Show top 10</b> below, or send /symbol BTC.\n"
        "Get pushed when a symbol crosses into a higher band: /subscribe BTC\n"
        "Everything else: /help"
    )


def start_keyboard() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [InlineKeyboardButton("📈 Show top 10", callback_data=ShowTop(10, "all").pack())],
            [InlineKeyboardButton("🔍 BTC card", callback_data=ShowSymbol("BTCUSDT").pack())],
        ]
    )


def help_text(commands: Sequence[tuple[str, str, bool]]) -> str:
    """`commands`: (name, description, operators only) in the order of the command table
    (bot/telegram/command_table.py)."""
    lines = ["<b>Commands</b>"]
    for name, description, operators_only in commands:
        who = " (operators only)" if operators_only else ""
        lines.append(f"{esc(USAGE.get(name, '/' + name))}: {esc(description.lower())}{who}")
    lines += [
        "",
        "<b>The score</b> blends the open-interest change over 1h, 4h and 24h with the "
        "funding rate (normalised to 8h) and the perp-index basis. High means crowded "
        "positioning; the bias says which side is crowded. <i>OI building against funding</i> "
        "(the <code>squeeze</code> alerts) means the side that pays funding is crowded while "
        "open interest builds: the risk is a violent move either way, not a direction.",
        "",
        "Symbols are forgiving: btc, $BTC, BTCUSDT and 1000shib all work.",
        "In groups, only admins can change subscriptions and settings.",
    ]
    return "\n".join(lines)


def unknown_command(command: str) -> str:
    return f"I don't know {esc(command)}. Send /help for the list of commands."


def nudge() -> str:
    return (
        "Send /top for the most stressed symbols, /symbol BTC for one symbol, "
        "or /help for everything."
    )


def usage(command: str) -> str:
    if command in USAGE:
        return f"Usage: {esc(USAGE[command])}"
    return "Send /help for the list of commands."


def bad_argument(arg: str, command: str) -> str:
    return f"I didn't understand “{esc(arg)}”. {usage(command)}"
