"""/subscribe before the market is loaded: the request is kept (`keep`), and once a cycle
has landed each one is either subscribed (`bot.views.actions.subscribe` with its
`pending_id`, deleting the row in the same transaction) or refused (`refuse`).

Matching the symbol as typed against the market is the caller's (the Telegram layer's
symbol parsing); these actions only do the database work.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.storage import pending_repo
from bot.views.actions import ActionContext


@dataclass(frozen=True)
class PendingRequest:
    id: int
    chat_id: int
    symbol: str  # as typed
    exchange: str
    kinds: list[str]  # empty: the configured default kinds
    requested_ms: int


async def keep(
    ctx: ActionContext,
    chat_id: int,
    symbols: Sequence[str],
    kinds: Sequence[str],
    exchange: str | None = None,
) -> None:
    """Store the request until the symbol list is known (the chat row must exist)."""
    async with ctx.sessions() as session, session.begin():
        await pending_repo.keep(
            session, chat_id, symbols, exchange or ctx.exchange, kinds, ctx.now_ms()
        )


async def waiting(ctx: ActionContext) -> list[PendingRequest]:
    async with ctx.sessions() as session:
        rows = await pending_repo.waiting(session)
    return [
        PendingRequest(
            r.id,
            r.chat_id,
            r.symbol,
            r.exchange,
            [k for k in r.kinds.split(",") if k],
            r.requested_ms,
        )
        for r in rows
    ]


async def refuse(ctx: ActionContext, pending_id: int) -> bool:
    """Drop a request whose symbol does not exist; False when another process took it."""
    async with ctx.sessions() as session, session.begin():
        return await pending_repo.take(session, pending_id)
