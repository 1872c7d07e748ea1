"""Generic HTTPS webhooks: the JSON of `payload`, signed, with an idempotency key.

Headers on every POST:
- `X-Pressurebot-Signature: sha256=<hex HMAC-SHA256 of the raw body>` keyed with the
  destination's secret (shown once at /webhook add);
- `Idempotency-Key`: the lead outbox row's stable id (`payload.idempotency_key`), the
  same on every retry and after a crash, so the receiver can drop repeats.

2xx: delivered. 410 Gone: the receiver ended it (deactivated once, the chat told).
429: retried after its Retry-After. 5xx, 408, timeouts and connection errors: retried
with backoff. Any other 4xx: failed (a retry would be refused the same way).
"""

from __future__ import annotations

import hashlib
import hmac

from bot.destinations.safe_http import Answer, SafeHttp
from bot.destinations.sinks import SinkResult, Verdict, post_classified, seconds

SIGNATURE_HEADER = "X-Pressurebot-Signature"
USER_AGENT = "pressurebot-webhook/1"


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def headers(secret: str, body: bytes, key: str) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        SIGNATURE_HEADER: signature(secret, body),
        "Idempotency-Key": key,
    }


def classify(answer: Answer) -> SinkResult:
    status = answer.status
    if 200 <= status < 300:
        return SinkResult(Verdict.SENT, f"HTTP {status}")
    if status == 410:
        return SinkResult(Verdict.GONE, "HTTP 410 (gone)")
    if status == 429:
        return SinkResult(Verdict.RETRY, "HTTP 429", seconds(answer.headers.get("retry-after")))
    if status >= 500 or status == 408:
        return SinkResult(Verdict.RETRY, f"HTTP {status}")
    return SinkResult(Verdict.FAILED, f"HTTP {status}")


async def post(http: SafeHttp, url: str, secret: str, body: bytes, key: str) -> SinkResult:
    return await post_classified(http, url, body, headers(secret, body, key), classify)
