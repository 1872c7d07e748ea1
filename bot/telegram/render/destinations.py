"""/webhook: adding, listing, testing and removing Discord and HTTPS destinations, and
the note a chat gets when one ends. A destination is shown by its label (host and a
masked path): never its URL, whose path may hold a token, nor its secret, except the
secret once, in the private chat of the admin who added it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.telegram.render.format import esc

KIND_NAME = {"discord": "Discord", "https": "HTTPS webhook"}


def webhook_usage(cap: int) -> str:
    return (
        "<b>Alerts beside this chat</b>: a destination gets every alert this chat gets.\n"
        "/webhook add discord &lt;Discord webhook URL&gt;\n"
        "/webhook add https &lt;https URL&gt; (JSON, signed; docs/alerts.md)\n"
        "/webhook list · /webhook test · /webhook remove &lt;n&gt;\n"
        f"Up to {cap} per chat. In groups, admins only."
    )


def _name(view: Any) -> str:
    return f"{KIND_NAME.get(view.kind, view.kind)} <code>{esc(view.label)}</code>"


def destination_added(view: Any, secret: str | None, private: bool) -> str:
    lines = [f"✅ #{view.number} {_name(view)} added: it gets this chat's alerts from now on."]
    if secret is not None and private:
        lines += [
            "Signing secret (shown once, keep it safe):",
            f"<code>{esc(secret)}</code>",
            "Each POST carries <code>X-Pressurebot-Signature: sha256=&lt;HMAC-SHA256 of the "
            "body&gt;</code>; docs/alerts.md shows how to check it.",
        ]
    elif secret is not None:
        lines.append("🔑 The signing secret was sent to you in a private message.")
    lines.append("Try it: /webhook test")
    return "\n".join(lines)


def secret_in_private(view: Any, chat_title: str, secret: str) -> str:
    return (
        f"🔑 Signing secret of {_name(view)} (#{view.number} of {esc(chat_title)}), "
        f"shown once:\n<code>{esc(secret)}</code>"
    )


def secret_not_delivered(view: Any) -> str:
    return (
        f"⚠️ #{view.number} {_name(view)} was added, but I could not send you its signing "
        "secret privately (start a private chat with me first). Remove it and add it again "
        "from a private chat, or after pressing Start in mine."
    )


def destination_list(views: Sequence[Any], cap: int) -> str:
    if not views:
        return "No destinations yet.\n" + webhook_usage(cap)
    lines = [f"<b>Destinations</b> ({len(views)}/{cap})"]
    for v in views:
        state = "" if v.active else f" · ⛔ stopped: {esc(v.reason or 'deactivated')}"
        lines.append(f"{v.number}. {_name(v)}{state}")
    lines.append("/webhook test · /webhook remove &lt;n&gt;")
    return "\n".join(lines)


def destination_tested(results: Sequence[tuple[Any, str, bool]]) -> str:
    if not results:
        return "No active destinations to test. /webhook list"
    lines = ["<b>Test message</b>"]
    for view, detail, ok in results:
        lines.append(f"{'✅' if ok else '❌'} #{view.number} {_name(view)}: {esc(detail)}")
    return "\n".join(lines)


def destination_removed(view: Any) -> str:
    return f"Removed #{view.number} {_name(view)}: it gets no more alerts."


def destination_refused(code: str, params: dict[str, Any]) -> str:
    if code == "no_secret_key":
        return (
            "Destinations are off on this bot: its operator has to set "
            "<code>[destinations] secret_key</code> (or PRESSUREBOT_DESTINATIONS__SECRET_KEY) "
            "to a Fernet key first, so URLs and secrets are stored encrypted."
        )
    if code == "bad_kind":
        return f"Unknown destination kind {esc(params.get('value'))}: use discord or https."
    if code == "refused":
        return f"⛔ That URL is refused: {esc(params.get('reason'))}."
    if code == "over_cap":
        return f"This chat has {params.get('cap')} destinations already: /webhook remove one."
    if code == "no_destination":
        n = params.get("count", 0)
        return f"No destination #{esc(params.get('value'))}: this chat has {n}. /webhook list"
    return "That did not work. /webhook"


def destination_deactivated(kind: str, label: str, detail: str) -> str:
    name = KIND_NAME.get(kind, kind)
    return (
        f"⛔ {name} <code>{esc(label)}</code> stopped: the receiver answered {esc(detail)}. "
        "It gets no more alerts; /webhook remove it, and /webhook add a new one if needed."
    )
