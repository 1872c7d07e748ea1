"""What every handler needs, kept in `application.bot_data["deps"]`, the typed handler
context that reads it (`BotContext.deps`), and the reply helper.

Handlers stay free of process state that replicas would not share: chats,
subscriptions and settings are read from and written to the DB on every command, and
with PostgreSQL the command limits are counted there too (rate_limits.py). What each
replica keeps for itself is derived data (docs/operations.md, "Webhook mode behind a
load balancer").
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp.abc import AbstractResolver
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from telegram import Message, Update
from telegram.error import TelegramError
from telegram.ext import Application, CallbackContext, ExtBot

from bot.config import Settings
from bot.liquidations.figures import LiqReader
from bot.replica import Replica
from bot.telegram.charts import ChartCache
from bot.telegram.chat_events import ChatStore
from bot.telegram.rate_limits import Limiter
from bot.telegram.sender import Priority, Sender
from bot.views.builtin_rules import BuiltinEvidence
from bot.views.lookalike import StateLibrary
from bot.views.market_cache import MarketCache
from bot.views.rule_actions import BacktestSource, HistorySource

logger = logging.getLogger(__name__)


@dataclass
class Deps:
    settings: Settings
    sessions: async_sessionmaker[AsyncSession]
    sender: Sender
    chats: ChatStore
    limiter: Limiter
    market: MarketCache
    # Per group: all its members' commands together (rate_limits.py).
    chat_limiter: Limiter
    charts: ChartCache = field(default_factory=ChartCache)
    clock: Callable[[], float] = time.time
    chart_hours: int = 48
    # Who this process is, for /status; set by the service once the bot has started.
    replica: Replica | None = None
    # The /symbol card's liquidations line, from the stored streams; None when off.
    liq_reader: LiqReader | None = None
    # Recorded history for /rule test (bot/replay/rule_history.py); set by the service.
    rule_history: HistorySource | None = None
    # The store's hours merged with it (bot/replay/rule_store.py); set by the service.
    backtest_rows: BacktestSource | None = None
    # "The last N times it looked like this" (bot/views/lookalike.py): the states if
    # loaded, never waiting (bot/replay/lookalike_history.py); set by the service.
    lookalikes: Callable[[], StateLibrary | None] | None = None
    # The built-in funding rules' backtests (bot/views/builtin_rules.py); set by the service.
    builtin_evidence: BuiltinEvidence | None = None
    started_ms: int = 0  # when the bot started: how long the first scan has run so far
    # What destination hosts resolve to (/webhook add and test); None: the system's
    # resolver. Tests put one they control here (bot/destinations/safe_http.py).
    resolver: AbstractResolver | None = None

    def __post_init__(self) -> None:
        # The chart shades the configured bands, like /start and the card.
        self.charts.params = self.settings.scoring
        if self.liq_reader is None and self.settings.liquidations.enabled:
            self.liq_reader = LiqReader()
        self.started_ms = self.started_ms or self.now_ms()

    def first_scan_eta(self) -> float:
        """Seconds until the first scan should have landed: its deadline from start-up."""
        s = self.settings.scorer
        return (
            s.interval_seconds * s.cycle_deadline_share - (self.now_ms() - self.started_ms) / 1000
        )

    @property
    def exchange(self) -> str:
        return self.settings.exchange.default_view

    @property
    def quotes(self) -> tuple[str, ...]:
        return tuple(self.settings.exchange.quote_assets)

    def now_ms(self) -> int:
        return int(self.clock() * 1000)


# bot_data, chat_data and user_data stay PTB's plain dicts: only bot_data is used, for Deps.
_Data = dict[Any, Any]


class BotContext(CallbackContext[ExtBot[None], _Data, _Data, _Data]):
    """The `context` every handler receives (registered in app.py through
    `ContextTypes(context=BotContext)`), so handlers get typed `deps`."""

    @property
    def deps(self) -> Deps:
        deps: Deps = self.bot_data["deps"]
        return deps


# No job queue (app.py builds with `.job_queue(None)`) and no PTB rate limiter.
BotApplication = Application[ExtBot[None], BotContext, _Data, _Data, _Data, None]


def _reply_to(update: Update) -> int | None:
    """Quote the command in groups, so the answer is easy to find in a busy chat."""
    chat = update.effective_chat
    message = update.effective_message
    if chat is None or message is None or chat.type == "private" or update.callback_query:
        return None
    return message.message_id


async def reply(
    update: Update,
    context: BotContext,
    text: str,
    reply_markup: Any = None,
) -> list[Message]:
    """Answer in the update's chat through the one sender seam; never raises Telegram
    errors into a handler (an unreachable chat is recorded by the sender)."""
    chat = update.effective_chat
    if chat is None:
        return []
    try:
        return await context.deps.sender.send_text(
            chat.id,
            text,
            reply_markup=reply_markup,
            priority=Priority.REPLY,
            reply_to=_reply_to(update),
        )
    except TelegramError as exc:
        logger.warning("reply to chat %s failed: %s", chat.id, exc)
        return []
