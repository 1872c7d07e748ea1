"""What one POST to a destination came to, in the outbox's terms.

`Verdict.SENT`: recorded sent. `RETRY`: due again after `delay` (the receiver's own
Retry-After / retry_after) or, with no delay, after the outbox's exponential backoff;
never counted against `max_send_attempts`, so an outage of any length ends with every
alert delivered (or dropped as stale after `delivery_expiry_hours`, like Telegram's).
`GONE`: the receiver says the webhook no longer exists: deactivated once, its chat
told. `FAILED`: refused for good (a 4xx we cannot fix by retrying, an address
refused at connect time).

`detail` is safe for logs and /webhook replies: a status and a reason, never the URL.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp

from bot.destinations.safe_http import Answer, SafeHttp, TargetRefused


class Verdict(enum.Enum):
    SENT = "sent"
    RETRY = "retry"
    GONE = "gone"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class SinkResult:
    verdict: Verdict
    detail: str
    delay: float | None = None


async def post_classified(
    http: SafeHttp,
    url: str,
    body: bytes,
    headers: dict[str, str],
    classify: Callable[[Answer], SinkResult],
) -> SinkResult:
    """POST, then `classify` the answer; no answer (timeout, reset, DNS) is a retry."""
    try:
        answer = await http.post(url, body, headers)
    except TargetRefused as exc:
        return SinkResult(Verdict.FAILED, f"refused: {exc.reason}")
    except TimeoutError:
        return SinkResult(Verdict.RETRY, "timed out")
    except aiohttp.ClientError as exc:  # the name only: an aiohttp message may hold the URL
        return SinkResult(Verdict.RETRY, f"no answer ({type(exc).__name__})")
    except (ValueError, UnicodeError) as exc:  # a URL yarl or IDNA cannot take
        return SinkResult(Verdict.FAILED, f"bad URL ({type(exc).__name__})")
    return classify(answer)


def json_body(answer: Answer) -> dict[str, Any]:
    try:
        doc = json.loads(answer.body)
    except (ValueError, UnicodeDecodeError):
        return {}
    return doc if isinstance(doc, dict) else {}


def seconds(value: object) -> float | None:
    try:
        out = float(str(value))
    except ValueError:
        return None
    return out if 0 <= out < 86_400 else None
