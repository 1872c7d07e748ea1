"""Discord webhooks: post embeds, honour Discord's rate limits per webhook.

Discord answers every webhook call with `X-RateLimit-Remaining` and
`X-RateLimit-Reset-After` (seconds): when Remaining reaches 0 the webhook waits out
Reset-After before its next post. A 429's JSON `retry_after` (seconds, e.g.
`{"message": "You are being rate limited.", "retry_after": 0.5, "global": false}`)
blocks that webhook as long (every webhook, when `"global": true`), and the group is
retried after it without counting an attempt. Otherwise each webhook has its own
bucket: one busy channel never slows another.
404 (Unknown Webhook) and 401 (invalid token) mean the webhook is gone for good.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

from bot.destinations.safe_http import Answer, SafeHttp
from bot.destinations.sinks import SinkResult, Verdict, json_body, post_classified, seconds

MAX_INLINE_WAIT = 5.0  # seconds a post waits for its bucket in place; longer: retried later
USER_AGENT = "pressurebot (https://github.com/pressurebot, 1)"


class DiscordLimits:
    """Per webhook: until when (monotonic seconds) it must not be posted to."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._until: dict[int, float] = {}
        self._global_until = 0.0  # a 429 with "global": true holds every webhook
        self._clock = clock

    def wait_for(self, key: int) -> float:
        until = max(self._until.get(key, 0.0), self._global_until)
        return max(0.0, until - self._clock())

    def block(self, key: int, for_seconds: float, *, everyone: bool = False) -> None:
        until = self._clock() + for_seconds
        if everyone:
            self._global_until = max(self._global_until, until)
        self._until[key] = max(self._until.get(key, 0.0), until)

    def update(self, key: int, answer: Answer) -> None:
        remaining = answer.headers.get("x-ratelimit-remaining")
        reset_after = seconds(answer.headers.get("x-ratelimit-reset-after"))
        if remaining is not None and remaining.strip() == "0" and reset_after is not None:
            self.block(key, reset_after)


def classify(answer: Answer) -> SinkResult:
    status = answer.status
    if 200 <= status < 300:
        return SinkResult(Verdict.SENT, f"HTTP {status}")
    if status == 429:
        doc = json_body(answer)
        delay = seconds(doc.get("retry_after")) or seconds(answer.headers.get("retry-after"))
        scope = "global" if doc.get("global") else "webhook"
        return SinkResult(Verdict.RETRY, f"HTTP 429 ({scope} rate limit)", delay or 1.0)
    if status in (401, 404):
        what = "unknown webhook" if status == 404 else "invalid webhook token"
        return SinkResult(Verdict.GONE, f"HTTP {status} ({what})")
    if status >= 500 or status == 408:
        return SinkResult(Verdict.RETRY, f"HTTP {status}")
    message = str(json_body(answer).get("message", ""))[:120]
    return SinkResult(Verdict.FAILED, f"HTTP {status}" + (f" ({message})" if message else ""))


async def post(
    http: SafeHttp,
    limits: DiscordLimits,
    key: int,
    url: str,
    message: dict[str, Any],
) -> SinkResult:
    """One message to webhook `key`, after its bucket allows it."""
    wait = limits.wait_for(key)
    if wait > MAX_INLINE_WAIT:
        return SinkResult(Verdict.RETRY, "rate limited (waiting for the bucket)", wait)
    if wait > 0:
        await asyncio.sleep(wait)
    body = json.dumps(message, separators=(",", ":")).encode()
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}

    def seen(answer: Answer) -> SinkResult:
        limits.update(key, answer)
        result = classify(answer)
        if answer.status == 429 and result.delay is not None:
            limits.block(key, result.delay, everyone=bool(json_body(answer).get("global")))
        return result

    return await post_classified(http, url, body, headers, seen)
