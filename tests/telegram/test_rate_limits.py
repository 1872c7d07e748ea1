"""The per-user command limiter (bot/telegram/auth.py)."""

from __future__ import annotations

import pytest

from bot.telegram.rate_limits import CommandLimiter, Verdict

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")


def test_command_limiter_warns_once_then_stays_quiet():
    now = [0.0]
    limiter = CommandLimiter(3, clock=lambda: now[0])
    assert [limiter.check(1) for _ in range(3)] == [Verdict.ALLOW] * 3
    assert limiter.check(1) is Verdict.DENY_NOTIFY
    assert limiter.check(1) is Verdict.DENY_SILENT
    assert limiter.check(2) is Verdict.ALLOW
    now[0] = 20.0  # one token back (3/min)
    assert limiter.check(1) is Verdict.ALLOW
    assert limiter.check(1) is Verdict.DENY_NOTIFY
