"""Held pushes: the daily cap (past a chat's cap for its local day, one note, then
silence) and the catch-up a chat is owed once it can be pushed again (mute, quiet hours
or the cap ended). Pure, like `bot.alerts.fanout`: no I/O, times passed in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import NamedTuple

from bot.alerts.fanout import FanoutRules, local_day_start_ms
from bot.alerts.types import (
    HOLD_REASONS,
    RULE_KIND_PREFIX,
    ChatPrefs,
    DayPush,
    DeliveryKind,
    DeliveryStatus,
    EventKind,
    HeldAlert,
    PlannedDelivery,
    SuppressReason,
)
from bot.scoring.formula import Regime

DEFAULT_RULES = FanoutRules()  # frozen: one shared default is safe


def daily_cap(chat: ChatPrefs, rules: FanoutRules) -> int:
    return rules.daily_cap if chat.daily_cap is None else max(0, chat.daily_cap)


def pushes_today(chat: ChatPrefs, pushes: Iterable[DayPush], now_ms: int) -> tuple[int, bool]:
    """(pushes since local midnight, was the cap note one of them)."""
    start = local_day_start_ms(now_ms, chat.tz)
    today = [p for p in pushes if p.created_ms >= start]
    return len(today), any(p.cap_note for p in today)


def over_cap(chat: ChatPrefs, pushes: Iterable[DayPush], now_ms: int, rules: FanoutRules) -> bool:
    cap = daily_cap(chat, rules)
    return cap > 0 and pushes_today(chat, pushes, now_ms)[0] >= cap


def apply_daily_cap(
    planned: Sequence[PlannedDelivery],
    chats: Mapping[int, ChatPrefs],
    pushes: Mapping[int, Sequence[DayPush]],
    now_ms: int,
    rules: FanoutRules = DEFAULT_RULES,
) -> list[PlannedDelivery]:
    """A cycle's pending rows for a chat are one push. Past the chat's cap for its local
    day, the first over-cap cycle's rows become the cap note (sent, one message), and
    every later one that day is suppressed `daily_cap`; both count as held, so the next
    local day starts with a catch-up. `pushes`: earlier cycles only, not this one."""
    pending = {p.chat_id for p in planned if p.status is DeliveryStatus.PENDING}
    capped: dict[int, DeliveryKind | None] = {}
    for chat_id in pending:
        chat = chats.get(chat_id)
        if chat is None:
            continue
        cap = daily_cap(chat, rules)
        if cap <= 0:
            continue
        count, noted = pushes_today(chat, pushes.get(chat_id, ()), now_ms)
        if count >= cap:
            capped[chat_id] = None if noted else DeliveryKind.CAP_NOTE
    if not capped:
        return list(planned)
    out: list[PlannedDelivery] = []
    for p in planned:
        if p.status is DeliveryStatus.PENDING and p.chat_id in capped:
            kind = capped[p.chat_id]
            if kind is None:
                p = p._replace(status=DeliveryStatus.SUPPRESSED, reason=SuppressReason.DAILY_CAP)
            else:
                p = p._replace(kind=kind)
        out.append(p)
    return out


def holds(planned: Iterable[PlannedDelivery]) -> set[int]:
    """Chats some of whose alerts this cycle are held (not merely cooled down)."""
    return {
        p.chat_id for p in planned if p.reason in HOLD_REASONS or p.kind is DeliveryKind.CAP_NOTE
    }


class SymbolNow(NamedTuple):
    band: str
    regime: str


def _squeeze_of(regime: str | None) -> str | None:
    return regime if regime in _SQUEEZES else None


_SQUEEZES = frozenset({Regime.LONG_SQUEEZE.value, Regime.SHORT_SQUEEZE.value})


def catchup_symbols(held: Iterable[HeldAlert], current: Mapping[str, SymbolNow]) -> list[str]:
    """Symbols whose confirmed state now differs from before their first held alert: a
    band back where it started, or a squeeze that began and ended, is not news. `held`
    in event order (oldest first)."""
    first_band: dict[str, str | None] = {}
    first_squeeze: dict[str, str | None] = {}
    changed: set[str] = set()
    for h in held:
        if h.kind == "band":
            first_band.setdefault(h.symbol, h.from_band)
        elif h.kind == "squeeze":
            first_squeeze.setdefault(h.symbol, _squeeze_of(h.from_regime))
        elif h.kind.startswith(RULE_KIND_PREFIX):
            continue  # a held rule fire is re-armed instead (bot/alerts/rules/state.py)
        elif h.kind == EventKind.LIQUIDATIONS:
            continue  # a cascade is momentary: the catch-up shows band and regime now

        else:
            changed.add(h.symbol)  # a catch-up that was itself held: show it again
    for symbol, band in first_band.items():
        now = current.get(symbol)
        if now is not None and now.band != band:
            changed.add(symbol)
    for symbol, squeeze in first_squeeze.items():
        now = current.get(symbol)
        if now is not None and _squeeze_of(now.regime) != squeeze:
            changed.add(symbol)
    return sorted(s for s in changed if s in current)
