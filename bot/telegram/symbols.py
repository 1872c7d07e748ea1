"""Forgiving symbol input: btc, BTC, $btc, BTCUSDT, btc/usdt, BTCUSDT.P, 1000shib, shib.

`resolve()` maps what a user typed to one symbol of the current universe, or returns
up to three "did you mean" suggestions (difflib on symbols and their base assets, plus
prefix matches). Pure functions: the caller passes the universe.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

MAX_SYMBOL_LENGTH = 24
# Binance lists low-priced coins per 1000 (or a million) units: 1000SHIBUSDT, 1MBABYDOGEUSDT.
MULTIPLIERS = ("1000", "1000000", "1M", "10000", "100000")
_STRIP_SUFFIXES = (".P", "-PERP", "PERP", "-SWAP", ".PERP")
_NOT_ALNUM = re.compile(r"[^A-Z0-9]")


@dataclass(frozen=True, slots=True)
class SymbolMatch:
    query: str  # the cleaned input, for messages
    symbol: str | None = None
    suggestions: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.symbol is not None


def clean(raw: str) -> str:
    """Upper-case, without $/#, separators and perp suffixes."""
    text = unicodedata.normalize("NFKC", raw).strip().upper().lstrip("$#")
    for suffix in _STRIP_SUFFIXES:
        if text.endswith(suffix) and len(text) > len(suffix):
            text = text[: -len(suffix)]
            break
    return _NOT_ALNUM.sub("", text)[:MAX_SYMBOL_LENGTH]


def base_of(symbol: str, quotes: Sequence[str]) -> str:
    base = symbol
    for quote in quotes:
        if base.endswith(quote) and len(base) > len(quote):
            base = base[: -len(quote)]
            break
    for mult in sorted(MULTIPLIERS, key=len, reverse=True):
        if base.startswith(mult) and len(base) > len(mult) and not base[len(mult)].isdigit():
            return base[len(mult) :]
    return base


def _candidates(q: str, quotes: Sequence[str]) -> Iterable[str]:
    yield q
    bare = base_of(q, quotes)
    for quote in quotes:
        yield q + quote
        for mult in MULTIPLIERS:
            yield mult + bare + quote
        yield bare + quote
    yield bare  # a coin: the cross-venue aggregate's rows are keyed by it


def resolve(raw: str, universe: Iterable[str], quotes: Sequence[str] = ("USDT",)) -> SymbolMatch:
    q = clean(raw)
    known = set(universe)
    if not q:
        return SymbolMatch(query=raw.strip()[:MAX_SYMBOL_LENGTH])
    for candidate in _candidates(q, quotes):
        if candidate in known:
            return SymbolMatch(query=q, symbol=candidate)
    return SymbolMatch(query=q, suggestions=suggest(q, known, quotes))


def suggest(q: str, universe: Iterable[str], quotes: Sequence[str], n: int = 3) -> list[str]:
    """Closest symbols by base name, then by full name, then by prefix."""
    symbols = sorted(universe)
    by_base: dict[str, list[str]] = {}
    for symbol in symbols:
        by_base.setdefault(base_of(symbol, quotes), []).append(symbol)
    bare = base_of(q, quotes)
    out: list[str] = []

    def add(symbol: str) -> None:
        if symbol not in out:
            out.append(symbol)

    for base in difflib.get_close_matches(bare, list(by_base), n=n, cutoff=0.6):
        for symbol in by_base[base]:
            add(symbol)
    for symbol in difflib.get_close_matches(q, symbols, n=n, cutoff=0.6):
        add(symbol)
    if len(bare) >= 2:
        prefixed = sorted(
            (s for b, ss in by_base.items() if b.startswith(bare) for s in ss), key=len
        )
        for symbol in prefixed:
            add(symbol)
    return out[:n]
