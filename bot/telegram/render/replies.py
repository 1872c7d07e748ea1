"""Replies any command or button can get: limits, refusals, errors, expired buttons."""

from __future__ import annotations


def argument_too_long(limit: int) -> str:
    return f"That's longer than I accept ({limit} characters per argument). Try a shorter one."


def rate_limited(per_minute: int) -> str:
    return f"You're sending commands quickly (limit {per_minute}/min). Try again in a minute."


def group_rate_limited(per_minute: int) -> str:
    return (
        f"This group is sending commands faster than I can answer here (limit "
        f"{per_minute}/min for the whole group). I'll skip the extra ones; try again in "
        "a minute, or ask me in a private chat."
    )


def internal_error() -> str:
    return "Sorry, something went wrong on my side. Please try again in a moment."


def not_admin() -> str:
    return "Sorry, that command is for the bot's operators only."


def group_admins_only() -> str:
    return "Only this group's administrators can change its alerts."


def no_data() -> str:
    return "No scores yet: the first market scan hasn't finished. Try again in a minute."


def stale_button() -> str:
    return "That button has expired. Send the command again."
