"""Events x subscriptions x chat preferences -> delivery rows: pure, no I/O (docs/alerts.md).

Who gets what (docs/alerts.md has the table):
- per-symbol `bands`: an upward move whose *to* band reaches the threshold, or a
  downward move whose *from* band reaches it ("calmed down from stressed"). The
  threshold is the subscription's min_band, else the chat's (default stretched), so
  neutral<->lean moves reach only chats that lower it to lean or neutral.
- per-symbol `squeeze`: squeeze entries and exits. Subscribing is the opt-in to exits.
- market-wide (`*`) `bands`: upward moves that cross min_band (default stressed), i.e.
  from below it to at or above it.
- market-wide (`*`) `squeeze`: squeeze entries only (market-wide exits would be noise).
- `liquidations` (cascades, bot/alerts/cascade.py) like `squeeze`: per-symbol entries
  and exits, market-wide entries only. A cascade that resolves a squeeze (its event
  names the squeeze) also reaches that symbol's `squeeze` subscribers: "under way" and
  "flushed" are news about the squeeze they follow. Still one row per (event, chat).
- a chat with direction "up" gets only escalations: no downward moves, no exits.

One row per (event, chat), however many subscriptions matched. A row is `pending`, or
`suppressed` with a reason (muted, quiet_hours, cooldown, daily_cap), so nothing is
silently lost.

A cooldown holds back only a *repeat* of the transition last delivered to the chat for
that symbol and kind: a reversal (down after up, exit after entry, entry after exit, a
switch of squeeze side) always goes out, so the chat's last word is never contradicted
by the state for hours. Quiet hours are in the chat's own time zone. Alerts held by mute,
quiet hours or the daily cap owe the chat one catch-up (`catchup_symbols`) once it can
be pushed again: the current state of each symbol whose state changed meanwhile.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta, tzinfo

from bot.alerts.types import (
    MARKET,
    ChatPrefs,
    CooldownKey,
    DeliveryStatus,
    Direction,
    Event,
    EventKind,
    LastAlert,
    PlannedDelivery,
    RuleFire,
    Sub,
    SubKind,
    SuppressReason,
    rule_event_kind,
    transition_sig,
)
from bot.scoring.formula import Band

MINUTE_MS = 60_000
DAY_MIN = 24 * 60


@dataclass(frozen=True, slots=True)
class FanoutRules:
    default_min_band: Band = Band.STRETCHED
    market_min_band: Band = Band.STRESSED
    cooldown_minutes: int = 30
    daily_cap: int = 20  # pushes (messages) per local day; 0: no cap
    # What a subscription names when the user names no kind (`alerts.default_kinds`):
    # the headless log shows what such a default subscriber would get.
    default_kinds: tuple[SubKind, ...] = (SubKind.BANDS, SubKind.SQUEEZE)


def matches(event: Event, sub: Sub, chat: ChatPrefs, rules: FanoutRules) -> bool:
    """Does this subscription ask for this event? (Suppression is decided separately.)"""
    if sub.kind not in sub_kinds_for(event) or sub.symbol not in (event.symbol, MARKET):
        return False
    return _admits(_Admission.of(event), sub, chat, sub.symbol == MARKET, rules)


@dataclass(frozen=True, slots=True)
class _Admission:
    """What the rules need to know about one event, computed once per event: the
    fan-out loop runs per (event, subscription), tens of thousands of times a cycle."""

    squeeze: bool  # a regime-like event (squeeze or cascade): entries and exits
    escalation: bool  # band rise or squeeze entry; up-only chats get nothing else
    rank: int  # band events: the band compared with a threshold (to if up, from if down)
    from_rank: int

    @staticmethod
    def of(event: Event) -> _Admission:
        up = event.direction is Direction.UP
        to, frm = _RANK.get(event.to_band, -1), _RANK.get(event.from_band, -1)
        return _Admission(
            squeeze=event.kind is not EventKind.BAND,
            escalation=up or event.direction is Direction.ENTER,
            rank=to if up else frm,
            from_rank=frm,
        )


_RANK: dict[Band | None, int] = {band: band.rank for band in Band}


def _admits(a: _Admission, sub: Sub, chat: ChatPrefs, market: bool, rules: FanoutRules) -> bool:
    if chat.up_only and not a.escalation:
        return False
    if market:
        # Market-wide is "tell me when anything heats up": squeeze entries, and rises
        # that cross the threshold (not moves within or above it, to keep it quiet).
        if not a.escalation:
            return False
        threshold = _RANK[sub.min_band or rules.market_min_band]
        return a.squeeze or a.from_rank < threshold <= a.rank
    if a.squeeze:
        return True  # a per-symbol squeeze subscription is the opt-in to exits too
    return a.rank >= _RANK[sub.min_band or chat.min_band or rules.default_min_band]


def local_minute(now_ms: int, tz: tzinfo | None = None) -> int:
    """Minutes after local midnight in `tz` (None: UTC)."""
    if tz is None:
        return (now_ms // MINUTE_MS) % DAY_MIN
    local = datetime.fromtimestamp(now_ms / 1000, tz)
    return local.hour * 60 + local.minute


def local_day_start_ms(now_ms: int, tz: tzinfo | None = None) -> int:
    """Epoch ms of the latest local midnight in `tz` (DST-aware; None: UTC)."""
    zone = tz or UTC
    day = datetime.fromtimestamp(now_ms / 1000, zone).date()
    start = datetime.combine(day, time(0), zone)
    return int(start.timestamp() * 1000)


def next_local_day_ms(now_ms: int, tz: tzinfo | None = None) -> int:
    zone = tz or UTC
    day = datetime.fromtimestamp(now_ms / 1000, zone).date() + timedelta(days=1)
    return int(datetime.combine(day, time(0), zone).timestamp() * 1000)


def in_quiet_hours(
    now_ms: int, start_min: int | None, end_min: int | None, tz: tzinfo | None = None
) -> bool:
    """[start, end) in minutes of the local day in `tz` (None: UTC); start > end wraps
    past midnight; start == end (or either unset) means no quiet hours."""
    if start_min is None or end_min is None or start_min == end_min:
        return False
    minute = local_minute(now_ms, tz)
    if start_min < end_min:
        return start_min <= minute < end_min
    return minute >= start_min or minute < end_min


def cooldown_ms(chat: ChatPrefs, rules: FanoutRules) -> int:
    minutes = rules.cooldown_minutes if chat.cooldown_minutes is None else chat.cooldown_minutes
    return max(0, minutes) * MINUTE_MS


def suppression(
    chat: ChatPrefs,
    last_alert_ms: int | LastAlert | None,
    now_ms: int,
    rules: FanoutRules,
    sig: str | None = None,
) -> SuppressReason | None:
    """Why this chat must not be pushed now, if at all. Mute wins over quiet hours over
    cooldown, so the recorded reason is the one the user set most deliberately.

    `sig` is this event's `transition_sig`: the cooldown applies only when the last
    delivery (`LastAlert`) was the same transition, never to a reversal."""
    if chat.muted_until_ms is not None and now_ms < chat.muted_until_ms:
        return SuppressReason.MUTED
    if in_quiet_hours(now_ms, chat.quiet_start_min, chat.quiet_end_min, chat.tz):
        return SuppressReason.QUIET_HOURS
    if last_alert_ms is None:
        return None
    if isinstance(last_alert_ms, LastAlert):
        if sig is not None and last_alert_ms.sig != sig:
            return None  # a reversal (or the first alert after a catch-up)
        last_alert_ms = last_alert_ms.created_ms
    if now_ms - last_alert_ms < cooldown_ms(chat, rules):
        return SuppressReason.COOLDOWN
    return None


def sub_kind_for(event: Event) -> SubKind:
    """The subscription kind that asks for this kind of event."""
    return _SUB_KIND[event.kind]


_SUB_KIND = {
    EventKind.BAND: SubKind.BANDS,
    EventKind.SQUEEZE: SubKind.SQUEEZE,
    EventKind.LIQUIDATIONS: SubKind.LIQUIDATIONS,
}


def sub_kinds_for(event: Event) -> tuple[SubKind, ...]:
    """Every subscription kind this event reaches: its own, and for a cascade that
    resolves a squeeze, `squeeze` too."""
    own = sub_kind_for(event)
    if own is SubKind.LIQUIDATIONS and (event.to_regime or event.from_regime):
        return (own, SubKind.SQUEEZE)
    return (own,)


def needed_subscriptions(events: Iterable[Event]) -> dict[str, set[SubKind]]:
    """Which (symbol, kind) subscriptions could match these events, so the repository
    loads only those. Market-wide ones matter only for band rises and squeeze entries."""
    needed: dict[str, set[SubKind]] = defaultdict(set)
    for event in events:
        kinds = sub_kinds_for(event)
        needed[event.symbol].update(kinds)
        if event.direction in (Direction.UP, Direction.ENTER):
            needed[MARKET].update(kinds)
    return dict(needed)


def index_subs(subs: Iterable[Sub]) -> dict[tuple[str, SubKind], list[Sub]]:
    by_key: dict[tuple[str, SubKind], list[Sub]] = defaultdict(list)
    for sub in subs:
        by_key[(sub.symbol, sub.kind)].append(sub)
    return by_key


def plan_deliveries(
    events: Sequence[tuple[int, Event]],
    subs: Iterable[Sub],
    chats: Mapping[int, ChatPrefs],
    last_alert_ms: Mapping[CooldownKey, int | LastAlert],
    now_ms: int,
    rules: FanoutRules = FanoutRules(),
) -> list[PlannedDelivery]:
    """One row per (event id, chat) that some subscription of an active chat matches.
    The daily cap is applied afterwards (`apply_daily_cap`): it needs the chats' counts."""
    by_key = index_subs(subs)
    # Mute and quiet hours depend on the chat and the time only: decide once per chat.
    blocked: dict[int, SuppressReason | None] = {}
    out: list[PlannedDelivery] = []
    for event_id, event in events:
        kinds = sub_kinds_for(event)
        cooldown_kind = event.kind.value
        sig = transition_sig(event.kind, event.direction, event.to_regime, event.side)
        adm = _Admission.of(event)
        chosen: set[int] = set()
        for market, group, kind in _groups(event.symbol, kinds):
            for sub in by_key.get((group, kind), ()):
                chat_id = sub.chat_id
                chat = chats.get(chat_id)
                if chat_id in chosen or chat is None or not chat.active:
                    continue
                if not _admits(adm, sub, chat, market, rules):
                    continue
                chosen.add(chat_id)
                if chat_id not in blocked:
                    blocked[chat_id] = suppression(chat, None, now_ms, rules)
                reason = blocked[chat_id]
                if reason is None:
                    last = last_alert_ms.get((chat_id, event.symbol, cooldown_kind))
                    if last is not None:
                        reason = suppression(chat, last, now_ms, rules, sig)
                status = DeliveryStatus.PENDING if reason is None else DeliveryStatus.SUPPRESSED
                out.append(PlannedDelivery(event_id, chat_id, status, reason))
    return out


def _groups(symbol: str, kinds: tuple[SubKind, ...]) -> list[tuple[bool, str, SubKind]]:
    """Where to look for subscribers, per-symbol ones first (market-wide rules are
    stricter, so a chat with both is judged by its own subscription)."""
    return [(m, g, k) for m, g in ((False, symbol), (True, MARKET)) for k in kinds]


def plan_rule_deliveries(
    fires: Iterable[RuleFire],
    chats: Mapping[int, ChatPrefs],
    last_alert_ms: Mapping[CooldownKey, int | LastAlert],
    now_ms: int,
    rules: FanoutRules = FanoutRules(),
) -> list[PlannedDelivery]:
    """One row per rule fire, to the rule's own chat, through the same mute, quiet hours
    and cooldown as every alert (the cooldown per rule and symbol: a rule that exits
    and enters again within it is a repeat). The daily cap follows with the rest."""
    out: list[PlannedDelivery] = []
    for fire in fires:
        chat = chats.get(fire.chat_id)
        if chat is None or not chat.active:
            continue
        last = last_alert_ms.get((fire.chat_id, fire.symbol, rule_event_kind(fire.rule_id)))
        reason = suppression(chat, last, now_ms, rules, str(Direction.ENTER))
        status = DeliveryStatus.PENDING if reason is None else DeliveryStatus.SUPPRESSED
        out.append(PlannedDelivery(fire.event_id, fire.chat_id, status, reason))
    return out


def digest_key(chat_id: int, cycle_id: int) -> tuple[int, int]:
    """All deliveries to one chat from one cycle go out as one digest message."""
    return (chat_id, cycle_id)


# A virtual chat subscribed to every symbol's bands and squeeze with default settings:
# headless mode logs exactly what it would receive.
DEFAULT_SUBSCRIBER_ID = 0


def default_subscriber_wants(event: Event, rules: FanoutRules) -> bool:
    chat = ChatPrefs(DEFAULT_SUBSCRIBER_ID, min_band=rules.default_min_band)
    return any(
        matches(event, Sub(DEFAULT_SUBSCRIBER_ID, event.symbol, kind), chat, rules)
        for kind in rules.default_kinds
    )
