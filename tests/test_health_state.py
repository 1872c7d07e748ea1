"""HealthState's log discipline: one ERROR line per problem, not per try."""

from __future__ import annotations

import logging

import pytest

from bot.health import REPEAT_LOG_SECONDS, HealthState


def test_one_outage_whose_cause_changes_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    health = HealthState(clock=lambda: now[0])
    with caplog.at_level(logging.ERROR, logger="bot.health"):
        health.set_problem("database", "read-only: write failed", kind="write failed")
        now[0] += 5
        health.set_problem("database", "I/O error: write failed", kind="write failed")
        assert len(caplog.records) == 1
        assert health.problems["database"] == "I/O error: write failed"  # /healthz: latest
        now[0] += REPEAT_LOG_SECONDS
        health.set_problem("database", "I/O error: write failed", kind="write failed")
        assert len(caplog.records) == 2  # a lasting fault, again once a minute
        health.clear("database")
        health.set_problem("database", "read-only: write failed", kind="write failed")
        assert len(caplog.records) == 3  # a new outage


def test_without_a_kind_a_new_message_is_a_new_line(caplog: pytest.LogCaptureFixture) -> None:
    health = HealthState(clock=lambda: 0.0)
    with caplog.at_level(logging.ERROR, logger="bot.health"):
        health.set_problem("telegram", "token revoked")
        health.set_problem("telegram", "token revoked")
        health.set_problem("telegram", "bot blocked")
    assert [r.getMessage() for r in caplog.records] == ["token revoked", "bot blocked"]
