"""A real PTB Application (real HTTPXRequest) polling the fake Bot API, on a temp DB."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import DatabaseSettings, Settings
from bot.storage.db import create_engine, session_factory
from fakes.bot_harness import BotWithWorker, start_bot_with_worker
from fakes.fake_telegram import FakeTelegram
from fakes.migrated_db import migrated_sqlite
from tests.telegram.helpers import ADMIN_ID, add_market


@pytest.fixture
async def fake_tg() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as tg:
        tg.add_chat(ADMIN_ID)  # the operator has written to the bot: their menu can be set
        yield tg


@pytest.fixture
def db_url(tmp_path: Any) -> str:
    return migrated_sqlite(tmp_path / "bot.db")


@pytest.fixture
async def sessions(db_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(DatabaseSettings(url=db_url))
    yield session_factory(engine)
    await engine.dispose()


@pytest.fixture
def make_settings(fake_tg: FakeTelegram, db_url: str) -> Callable[..., Settings]:
    def make(**telegram: Any) -> Settings:
        values: dict[str, Any] = {
            "token": fake_tg.token,
            "base_url": fake_tg.base_url,
            "admin_ids": [ADMIN_ID],
            "poll_timeout_seconds": 2,
            "commands_per_minute": 1000,
            # Charts drawn ahead after each cycle are a fifth of a second of CPU each on
            # a fresh figure, for charts most tests never open (services under test
            # turn it off too, fakes/service_process.py); the tests of the pre-renderer
            # turn it on (tests/telegram/test_tg_chart_cache.py).
            "chart_prerender_symbols": 0,
        }
        values.update(telegram)
        return Settings(telegram=values, exchange={"venues": ["binance"]}, database={"url": db_url})  # type: ignore[arg-type]

    return make


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings()


@pytest.fixture
async def start(
    sessions: async_sessionmaker[AsyncSession], fake_tg: FakeTelegram
) -> AsyncIterator[Callable[..., Any]]:
    """start(settings, **worker_options) -> BotWithWorker; stopped after the test."""
    started: list[BotWithWorker] = []

    async def go(settings: Settings, **options: Any) -> BotWithWorker:
        options.setdefault("poll_interval", 0.2)
        runtime = await start_bot_with_worker(settings, sessions, **options)
        started.append(runtime)
        return runtime

    yield go
    for runtime in started:
        await runtime.stop()


@pytest.fixture
async def runtime(
    start: Callable[..., Any], settings: Settings, sessions: async_sessionmaker[AsyncSession]
) -> BotWithWorker:
    await add_market(sessions)
    return await start(settings)
