"""What a chat can do with destinations (/webhook; docs/alerts.md, "Destinations"), with
no transport in it: add, list, remove. Like `bot/views/actions.py`, each returns data
or raises `UserError`; `bot/telegram/render/destinations.py` words them.

A destination is numbered by its place in the chat's list (1, 2, ...). Nothing returned
here carries a URL or a secret, except `Added.secret`, shown once, in private.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.destinations.safe_http import (
    GuardedResolver,
    TargetRefused,
    check_resolves_public,
    checked_url,
)
from bot.destinations.secret_box import SecretBox, new_signing_secret
from bot.storage import destination_repo
from bot.storage.destination_repo import StoredDestination
from bot.views.actions import UserError

KINDS = ("discord", "https")


class DestinationContext(Protocol):
    settings: Settings
    sessions: async_sessionmaker[AsyncSession]
    resolver: AbstractResolver | None

    def now_ms(self) -> int: ...


@dataclass(frozen=True, slots=True)
class DestinationView:
    number: int  # its place in /webhook list
    kind: str
    label: str  # host and masked path
    active: bool
    reason: str | None  # why it stopped, when it did


@dataclass(frozen=True, slots=True)
class Added:
    view: DestinationView
    secret: str | None  # the HTTPS signing secret: shown once, never again


def label_for(url: str) -> str:
    """Host and a masked path: any part of a path may be a token (Discord's is), so
    none of it is shown; the number in /webhook list tells two on one host apart."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    if parts.port:
        host += f":{parts.port}"
    return f"{host}/•••" if parts.path.strip("/") or parts.query else host


def _view(number: int, d: StoredDestination) -> DestinationView:
    return DestinationView(number, d.kind, d.label, d.active, d.deactivated_reason)


def _discord_url(url: str) -> bool:
    parts = urlsplit(url)
    return (parts.hostname or "").lower() in (
        "discord.com",
        "discordapp.com",
        "canary.discord.com",
        "ptb.discord.com",
    ) and parts.path.startswith("/api/webhooks/")


async def add_destination(ctx: DestinationContext, chat_id: int, kind: str, url: str) -> Added:
    settings = ctx.settings.destinations
    box = SecretBox.from_settings(ctx.settings)
    if box is None:
        raise UserError("no_secret_key")
    kind = kind.lower()
    if kind not in KINDS:
        raise UserError("bad_kind", value=kind)
    async with ctx.sessions() as session:  # the cheap refusal first, before any lookup
        if await destination_repo.count_for_chat(session, chat_id) >= settings.per_chat:
            raise UserError("over_cap", cap=settings.per_chat)
    allow = settings.allow_private_targets
    try:
        target = checked_url(url, allow)
        if kind == "discord" and not allow and not _discord_url(target.url):
            raise TargetRefused("a Discord webhook URL starts https://discord.com/api/webhooks/")
        await check_resolves_public(target, GuardedResolver(ctx.resolver, allow))
    except TargetRefused as exc:
        raise UserError("refused", reason=exc.reason) from exc
    async with ctx.sessions() as session, session.begin():
        count = await destination_repo.count_for_chat(session, chat_id)
        if count >= settings.per_chat:
            raise UserError("over_cap", cap=settings.per_chat)
        secret = new_signing_secret() if kind == "https" else None
        stored = await destination_repo.add(
            session,
            chat_id,
            kind,
            label_for(target.url),
            box.seal(target.url),
            box.seal(secret) if secret else None,
            ctx.now_ms(),
        )
    return Added(_view(count + 1, stored), secret)


async def list_destinations(ctx: DestinationContext, chat_id: int) -> list[DestinationView]:
    async with ctx.sessions() as session:
        found = await destination_repo.for_chat(session, chat_id)
    return [_view(i, d) for i, d in enumerate(found, 1)]


async def stored_destinations(ctx: DestinationContext, chat_id: int) -> list[StoredDestination]:
    async with ctx.sessions() as session:
        return await destination_repo.for_chat(session, chat_id)


async def remove_destination(ctx: DestinationContext, chat_id: int, number: str) -> DestinationView:
    """The removed one; UserError "no_destination" when `number` names none."""
    async with ctx.sessions() as session, session.begin():
        found = await destination_repo.for_chat(session, chat_id)
        index = int(number) if number.isdigit() else 0
        if not 1 <= index <= len(found):
            raise UserError("no_destination", value=number, count=len(found))
        dest = found[index - 1]
        await destination_repo.remove(session, chat_id, dest.id)
    return _view(index, dest)
