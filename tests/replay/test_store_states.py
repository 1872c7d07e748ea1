"""The deployment's hourly store feeds "the last 20 times this symbol looked like this"
for a symbol the shipped history lacks (bot/replay/store_states.py): a real SQLite
store holding synthetic hours gives the states computed here by hand, the card's line
names the store and its period, and under 30 days there is no line."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from bot.config import DatabaseSettings, Settings
from bot.replay.history_sources import history_sources
from bot.scoring.explain import lookalike_sentence
from bot.storage import hourly_repo
from bot.storage.db import create_engine, session_factory
from bot.views.lookalike import HOUR_MS, HourState, build_library, lookalike_for, nearest
from fakes.migrated_db import migrated_sqlite

T0 = 1_790_000_000_000 - 1_790_000_000_000 % HOUR_MS  # 2026-09-21, a whole hour
NOW = T0 + 45 * 24 * HOUR_MS


def mark(i: int) -> float:
    return 100.0 * (1 + 0.01 * (i % 10))


def stored(i: int, symbol: str = "KASUSDT") -> tuple[object, ...]:
    """Hour i: every input a function of i, mark cycling over 10 hours, high 2% above
    and low 1% below it."""
    v = float(i % 97)
    return ("binance", symbol, T0 + i * HOUR_MS, T0 + i * HOUR_MS, 40, "elevated", "NEUTRAL",
            "Neutral", 1000.0, v, -v, v / 2, 0.01, 8, 0.01, (i % 13) / 100, (i % 7) / 10,
            mark(i), mark(i), mark(i) * 1.02, mark(i) * 0.99)  # fmt: skip


def by_hand(hours: int) -> list[HourState]:
    out = []
    for i in range(hours - 24):  # the last day has no hour 24 later
        after = range(i + 1, i + 25)
        up = max(mark(j) * 1.02 for j in after) / mark(i) - 1
        down = 1 - min(mark(j) * 0.99 for j in after) / mark(i)
        v = float(i % 97)
        out.append(
            HourState("KASUSDT", T0 + i * HOUR_MS, v, -v, v / 2, (i % 13) / 100, (i % 7) / 10,
                      (mark(i + 24) / mark(i) - 1) * 100, max(up, down, 0.0) * 100)
        )  # fmt: skip
    return out


async def test_a_symbol_outside_the_shipped_history_gets_the_store_line(tmp_path: Path) -> None:
    engine = create_engine(DatabaseSettings(url=migrated_sqlite(tmp_path / "s.db")))
    try:
        sessions = session_factory(engine)
        async with sessions() as session, session.begin():
            await hourly_repo.upsert_rows(session, [stored(i) for i in range(40 * 24)])
            await hourly_repo.upsert_rows(session, [stored(i, "NEWUSDT") for i in range(20 * 24)])
        settings = Settings()
        sources = history_sources(settings, load=lambda rows: None, sessions=sessions)
        assert sources.lookalikes is not None
        row = SimpleNamespace(oi_1h_pct=10.0, oi_4h_pct=-10.0, oi_24h_pct=5.0,
                              funding_8h_pct=0.05 + settings.scoring.funding_base_8h,
                              basis_pct=0.3, exchange="binance")  # fmt: skip
        base = settings.scoring.funding_base_8h

        assert sources.lookalikes() is None  # the shipped load first (none here: no file)
        assert await sources.builtin_evidence.get() == {}  # ... which has now run
        library = sources.lookalikes()
        store = sources.store
        assert store is not None and library is not None and library.store == store.peek
        assert lookalike_for(library, "KASUSDT", row, base) is None  # never waits...
        assert store.peek("binance", "KASUSDT") is None  # ...the read is under way
        states = await store.read("binance", "KASUSDT")
        assert states is not None and states.source == "store:binance"

        found = lookalike_for(sources.lookalikes(), "KASUSDT", row, base)
        expected = build_library(by_hand(40 * 24), "x").by_symbol["KASUSDT"]
        now = {"oi_1h": 10.0, "oi_4h": -10.0, "oi_24h": 5.0, "funding_premium": 0.05,
               "basis": 0.3}  # fmt: skip
        assert found == nearest(expected, now, source="store:binance")
        assert found is not None and found.hours == 39 * 24
        assert lookalike_sentence(found).startswith(
            "the 20 past hours most like now (this bot's own binance hours, 2026-09-21 to "
            "10-30, a day apart or more): median |24h| move "
        )
        # another venue's card of the same symbol, or 20 days stored: no line
        assert await store.read("bybit", "KASUSDT") is None
        assert await store.read("binance", "NEWUSDT") is None
        assert lookalike_for(sources.lookalikes(), "NEWUSDT", row, base) is None
    finally:
        await engine.dispose()
