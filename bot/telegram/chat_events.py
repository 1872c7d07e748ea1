"""What the bot learns about chats while sending, written to the DB at once.

One implementation of `sender.ChatEvents`, shared by command replies and the outbox worker,
plus the `my_chat_member` logic (blocked, kicked, re-added).
"""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.storage import chat_repo

logger = logging.getLogger(__name__)

# ChatMember statuses after which the bot can no longer post to the chat.
GONE_STATUSES = frozenset({"kicked", "left", "banned"})


class ChatStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def chat_unreachable(self, chat_id: int, reason: str) -> None:
        async with self._sessions() as session, session.begin():
            dropped = await chat_repo.deactivate_chat(session, chat_id, reason)
        logger.info("chat %s deactivated (%s); dropped %d pending", chat_id, reason, dropped)

    async def chat_migrated(self, old_id: int, new_id: int) -> None:
        async with self._sessions() as session, session.begin():
            await chat_repo.migrate_chat(session, old_id, new_id)
        logger.info("chat %s migrated to %s", old_id, new_id)

    async def membership_changed(
        self,
        chat_id: int,
        chat_type: str,
        title: str | None,
        new_status: str,
        now_ms: int,
        default_min_band: str,
    ) -> bool:
        """Returns True when the chat is now active."""
        if new_status in GONE_STATUSES:
            await self.chat_unreachable(chat_id, f"bot {new_status}")
            return False
        async with self._sessions() as session, session.begin():
            await chat_repo.upsert_chat(
                session, chat_id, chat_type, title, now_ms, default_min_band
            )
        logger.info("chat %s active again (%s)", chat_id, new_status)
        return True
