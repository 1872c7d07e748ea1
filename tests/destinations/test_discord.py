"""Discord's rules as data: the rate-limit headers and 429s per webhook, the answers
that end a webhook, and a digest that never exceeds Discord's 10 embeds."""

from __future__ import annotations

import json

from bot.destinations.discord import DiscordLimits, classify
from bot.destinations.safe_http import Answer
from bot.destinations.sinks import Verdict
from bot.storage.outbox_repo import AlertItem
from bot.telegram.render import discord_message
from fakes.fake_receivers import DISCORD_404, DISCORD_429


def answer(status: int, body: object = None, **headers: str) -> Answer:
    raw = b"" if body is None else json.dumps(body).encode()
    return Answer(status, {k.lower().replace("_", "-"): v for k, v in headers.items()}, raw)


def item(symbol: str, score: int) -> AlertItem:
    return AlertItem(
        score, score, "binance", symbol, "band", "up", "lean", "stretched", None, None,
        score, "LONG", "Net long bias building", 1.0, 0.01, 0.1,
    )  # fmt: skip


def test_an_empty_bucket_blocks_that_webhook_only() -> None:
    now = [100.0]
    limits = DiscordLimits(clock=lambda: now[0])
    limits.update(1, answer(204, X_RateLimit_Remaining="0", X_RateLimit_Reset_After="1.5"))
    limits.update(2, answer(204, X_RateLimit_Remaining="3", X_RateLimit_Reset_After="1.5"))
    assert limits.wait_for(1) == 1.5 and limits.wait_for(2) == 0
    now[0] += 1.0
    assert limits.wait_for(1) == 0.5


def test_a_global_429_holds_every_webhook() -> None:
    now = [0.0]
    limits = DiscordLimits(clock=lambda: now[0])
    limits.block(1, 2.0, everyone=True)
    limits.block(3, 0.5)
    assert limits.wait_for(2) == 2.0 and limits.wait_for(3) == 2.0


def test_429_uses_the_body_retry_after() -> None:
    result = classify(answer(429, DISCORD_429, Retry_After="1"))
    assert result.verdict is Verdict.RETRY and result.delay == 0.5
    assert result.detail == "HTTP 429 (webhook rate limit)"
    glob = classify(answer(429, dict(DISCORD_429, retry_after=2.25, **{"global": True})))
    assert glob.delay == 2.25 and "global" in glob.detail


def test_404_and_401_end_the_webhook_5xx_retries_400_fails() -> None:
    assert classify(answer(404, DISCORD_404)).verdict is Verdict.GONE
    assert classify(answer(401, {"message": "Invalid Webhook Token", "code": 50027})).verdict is (
        Verdict.GONE
    )
    assert classify(answer(502)).verdict is Verdict.RETRY
    bad = classify(answer(400, {"message": "Invalid Form Body", "code": 50035}))
    assert bad.verdict is Verdict.FAILED and bad.detail == "HTTP 400 (Invalid Form Body)"
    assert classify(answer(204)).verdict is Verdict.SENT


def test_a_big_digest_fits_ten_embeds_and_counts_the_rest() -> None:
    items = [item(f"C{i}USDT", 40 + i) for i in range(25)]
    message = discord_message(items)
    embeds = message["embeds"]
    assert len(embeds) == 10
    assert embeds[-1]["title"] == "and 16 more alerts"
    assert len(embeds[-1]["description"].splitlines()) == 16
    assert sum(len(e["title"]) + len(e.get("description", "")) for e in embeds) < 6000
    assert message["allowed_mentions"] == {"parse": []}


def test_a_catch_up_and_a_cap_note_read_as_in_telegram() -> None:
    from dataclasses import replace

    catchup = replace(item("ETHUSDT", 50), note="catchup", kind="state")
    capped = replace(item("SOLUSDT", 45), note="cap_note")
    embeds = discord_message([capped, item("BTCUSDT", 41), catchup])["embeds"]
    assert [e["title"] for e in embeds] == [
        "🔔 Catch-up: what changed while alerts were held",
        "🔺 BTC lean → 🟠 stretched · score 41",
        "⏸ Daily limit reached",
    ]
    assert embeds[0]["description"].startswith("🟠 ETH now stretched · score 50")
    assert "(SOL)" in embeds[2]["description"]


def test_a_cascade_reads_in_discord_as_in_telegram_without_html() -> None:
    from dataclasses import replace

    from bot.destinations.payload import alert_json

    detail = {"usd": 12.3e6, "oi_pct": 0.42, "x_normal": 8.1, "coverage": 0.93, "minutes": 15}
    cascade = replace(
        item("BTCUSDT", 48),
        kind="liquidations",
        direction="enter",
        from_band=None,
        to_band=None,
        to_regime="Long squeeze risk",
        side="long",
        detail=json.dumps(detail),
    )
    [embed] = discord_message([cascade])["embeds"]
    assert embed["title"] == "🌊 BTCUSDT cascade: longs liquidated $12.30M in the last 15 min"
    text = embed["description"]
    assert "0.42% of OI · 8.1× normal" in text and "Long squeeze under way" in text
    assert "partial" in text and "<" not in text and "None" not in embed["title"]
    doc = alert_json(cascade)
    assert doc["side"] == "long" and doc["cascade"] == detail
    assert alert_json(item("ETHUSDT", 40))["cascade"] is None
