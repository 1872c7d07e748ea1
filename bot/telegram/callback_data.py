"""What an inline button carries back when tapped: one frozen dataclass per action.

The wire format is 'tag:arg:arg', at most 64 bytes (Telegram's limit). It is the format
the bot has always used, so buttons on messages already sitting in chats keep working
after an upgrade; `pack()` must keep producing exactly these strings.

    top:N:WHICH[:VENUE]   ShowTop      send a new /top table (VENUE: not the default view)
    topf:N:WHICH[:VENUE]  FilterTop    re-filter a /top table in place
    sym:SYMBOL[:VENUE]  ShowSymbol     send a symbol card (VENUE: not the default view)
    sub:SYMBOL[:VENUE]  SubscribeSymbol     subscribe from a card
    uns:SYMBOL[:VENUE]  UnsubscribeSymbol   unsubscribe from a card
    rm:SYMBOL      RemoveSubscription  remove from /subscriptions ('*' = market-wide)
    mkt:CHOICE     SetMarket           market-wide stretched|stressed|squeeze|off
    set:WORD:...   ChangeSetting       a /settings change, as the words after /settings
    mute:HOURS     MuteFromAlert       mute from an alert

Anyone can forge callback data, so `unpack` never raises and never trusts: arguments stay
the strings the client sent (symbols are resolved, settings parsed, by the handlers, the
same way as typed commands), except where a number is decoded here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Self

from telegram.constants import InlineKeyboardButtonLimit

MAX_BYTES = int(InlineKeyboardButtonLimit.MAX_CALLBACK_DATA)
SEP = ":"


def cb(tag: str, *args: object) -> str:
    """The wire string for one action; a ValueError rather than a button Telegram
    would refuse (it rejects the whole message when one button's data is too long)."""
    data = SEP.join([tag, *(str(a) for a in args)])
    if len(data.encode()) > MAX_BYTES:
        raise ValueError(f"callback data too long: {data!r}")
    return data


def parse_cb(data: str | None) -> tuple[str, list[str]]:
    parts = (data or "").split(SEP)
    return parts[0], parts[1:]


def _number(word: str) -> int | None:
    """ASCII digits only: str.isdigit() also accepts '²', which int() rejects."""
    return int(word) if word.isascii() and word.isdigit() else None


def _venue_args(venue: str | None) -> list[str]:
    return [venue] if venue else []


def _venue_at(args: list[str], i: int) -> str | None:
    return args[i] if len(args) > i and args[i] else None


@dataclass(frozen=True)
class _TopAction:
    TAG: ClassVar[str] = ""
    n: int | None  # None: not a number on the wire, the handler's default applies
    which: str  # a filter name; the handler falls back to 'all' for anything else
    venue: str | None = None  # None: the default view (buttons made before venues too)

    def pack(self) -> str:
        return cb(self.TAG, self.n, self.which, *_venue_args(self.venue))

    @classmethod
    def from_args(cls, args: list[str]) -> Self:
        return cls(_number(args[0]), args[1] if len(args) > 1 else "", _venue_at(args, 2))


@dataclass(frozen=True)
class ShowTop(_TopAction):
    TAG: ClassVar[str] = "top"


@dataclass(frozen=True)
class FilterTop(_TopAction):
    TAG: ClassVar[str] = "topf"


@dataclass(frozen=True)
class _SymbolAction:
    TAG: ClassVar[str] = ""
    symbol: str
    venue: str | None = None  # None: the default view (buttons made before venues too)

    def pack(self) -> str:
        return cb(self.TAG, self.symbol, *_venue_args(self.venue))

    @classmethod
    def from_args(cls, args: list[str]) -> Self:
        return cls(args[0], _venue_at(args, 1))


@dataclass(frozen=True)
class ShowSymbol(_SymbolAction):
    TAG: ClassVar[str] = "sym"


@dataclass(frozen=True)
class SubscribeSymbol(_SymbolAction):
    TAG: ClassVar[str] = "sub"


@dataclass(frozen=True)
class UnsubscribeSymbol(_SymbolAction):
    TAG: ClassVar[str] = "uns"


@dataclass(frozen=True)
class RemoveSubscription:
    TAG: ClassVar[str] = "rm"
    symbol: str  # '*' removes the market-wide subscription

    def pack(self) -> str:
        return cb(self.TAG, self.symbol)

    @classmethod
    def from_args(cls, args: list[str]) -> RemoveSubscription:
        return cls(args[0])


@dataclass(frozen=True)
class SetMarket:
    TAG: ClassVar[str] = "mkt"
    choice: str  # what /market takes: stretched, stressed, squeeze, liquidations, off (or on)

    def pack(self) -> str:
        return cb(self.TAG, self.choice)

    @classmethod
    def from_args(cls, args: list[str]) -> SetMarket:
        return cls(args[0])


@dataclass(frozen=True)
class ChangeSetting:
    TAG: ClassVar[str] = "set"
    # The words after /settings, e.g. ('band', 'lean'): one parser serves both, so a
    # button can never mean something the command does not.
    words: tuple[str, ...]

    def pack(self) -> str:
        return cb(self.TAG, *self.words)

    @classmethod
    def from_args(cls, args: list[str]) -> ChangeSetting:
        return cls(tuple(args))


@dataclass(frozen=True)
class MuteFromAlert:
    TAG: ClassVar[str] = "mute"
    hours: str  # as after /settings mute: hours, or off/0 to unmute

    def pack(self) -> str:
        return cb(self.TAG, self.hours)

    @classmethod
    def from_args(cls, args: list[str]) -> MuteFromAlert:
        return cls(args[0])


Action = (
    ShowTop
    | FilterTop
    | ShowSymbol
    | SubscribeSymbol
    | UnsubscribeSymbol
    | RemoveSubscription
    | SetMarket
    | ChangeSetting
    | MuteFromAlert
)

_BY_TAG: dict[str, type[Action]] = {
    cls.TAG: cls
    for cls in (
        ShowTop,
        FilterTop,
        ShowSymbol,
        SubscribeSymbol,
        UnsubscribeSymbol,
        RemoveSubscription,
        SetMarket,
        ChangeSetting,
        MuteFromAlert,
    )
}
# Decided on the tag alone, before the arguments are looked at: a malformed change
# button from a group member gets the admins-only refusal, not "expired".
_CHANGES_CHAT = frozenset(
    cls.TAG
    for cls in (
        SubscribeSymbol,
        UnsubscribeSymbol,
        RemoveSubscription,
        SetMarket,
        ChangeSetting,
        MuteFromAlert,
    )
)


def unpack(data: str | None) -> Action | None:
    """The action a button carries; None for an unknown tag or no arguments (an old or
    forged button)."""
    tag, args = parse_cb(data)
    cls = _BY_TAG.get(tag)
    if cls is None or not args:
        return None
    return cls.from_args(args)


def changes_chat(data: str | None) -> bool:
    """Whether the button would change the chat's subscriptions or settings."""
    return parse_cb(data)[0] in _CHANGES_CHAT
