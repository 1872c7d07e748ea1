"""A synthetic hourly store (bot/storage/hourly_repo.py rows) with a planted signal:
every `every` hours a symbol's OI 4h jumps to 12% for one hour and its mark then climbs
8% over the next 6 hours, easing back over two days; otherwise OI 4h is 1% and the mark
wobbles by 0.1%. So a rule `oi_4h > 10` fires before each >= 5% excursion, which most
hours do not see."""

from __future__ import annotations

import math

from bot.storage import hourly_repo

HOUR = 3_600_000
PLANT_EVERY = 72


def planted_rows(
    symbols: list[str],
    hours: int,
    last_hour_ms: int,
    exchange: str = "binance",
    every: int = PLANT_EVERY,
) -> list[tuple[object, ...]]:
    """`hours` stored hours per symbol ending at `last_hour_ms` (COLUMNS order)."""
    first = last_hour_ms - (hours - 1) * HOUR
    rows: list[tuple[object, ...]] = []
    for k, symbol in enumerate(symbols):
        for h in range(hours):
            phase = (h + k) % every
            planted = phase == 10
            # Up 8% over 6 hours, then back down over 48 (under 5% in any day).
            climb = (phase - 10) * 8.0 / 6 if 10 <= phase <= 16 else 0.0
            climb = 8.0 * (64 - phase) / 48 if 16 < phase < 64 else climb
            mark = 100.0 * (1 + climb / 100) * (1 + 0.001 * math.sin(h))
            oi_4h = 12.0 if planted else 1.0
            t = first + h * HOUR
            rows.append(
                (exchange, symbol, t, t - 60_000, 40 if planted else 10, "neutral", "NEUTRAL",
                 "Neutral", 1000.0, 0.5, oi_4h, 2.0, 0.01, 8, 0.01, 0.0, 0.05, mark, mark,
                 mark * 1.001, mark * 0.999)
            )  # fmt: skip
    return rows


async def write(sessions: object, rows: list[tuple[object, ...]]) -> None:
    async with sessions() as session, session.begin():  # type: ignore[operator]
        for lo in range(0, len(rows), 5000):
            await hourly_repo.upsert_rows(session, rows[lo : lo + 5000])
