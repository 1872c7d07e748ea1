"""/webhook through the real PTB Application and the fake Bot API: add, list, test,
remove; the secret shown once (in private); URLs never echoed; group admins only; the
per-chat cap; no secret_key -> a polite refusal naming the key; SSRF refusals."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select

from bot.config import DestinationSettings, Settings
from bot.destinations.secret_box import SecretBox
from bot.storage.models import Destination
from fakes.fake_receivers import DiscordReceiver, SignedReceiver
from fakes.fake_telegram import FakeTelegram
from tests.destinations.test_safe_http import MapResolver
from tests.telegram.test_tg_commands import ask

USER = 42
GROUP = -100777
KEY = Fernet.generate_key().decode()


def with_destinations(settings: Settings, **values: object) -> Settings:
    merged = {"secret_key": KEY, "per_chat": 2, **values}
    return settings.model_copy(update={"destinations": DestinationSettings(**merged)})  # type: ignore[arg-type]


@pytest.fixture
def loopback(make_settings: Callable[..., Settings]) -> Settings:
    return with_destinations(make_settings(), allow_private_targets=True)


async def test_add_list_test_remove_in_private(start, loopback, sessions, fake_tg: FakeTelegram):
    await start(loopback)
    async with SignedReceiver() as hook, DiscordReceiver() as discord:
        reply = await ask(fake_tg, f"/webhook add https {hook.url}")
        assert "added" in reply.visible and "shown once" in reply.visible
        secret = reply.visible.split("shown once, keep it safe):\n")[1].split("\n")[0]
        assert len(secret) == 64
        hook.secret = secret
        reply = await ask(fake_tg, f"/webhook add discord {discord.url}")
        assert "#2 Discord" in reply.visible and "secret" not in reply.visible.lower()
        reply = await ask(fake_tg, "/webhook add https https://example.com/third")
        assert "has 2 destinations already" in reply.visible
        listing = await ask(fake_tg, "/webhook list")
        print("\n--- /webhook list ---\n" + listing.visible)
        assert "1. HTTPS webhook 127.0.0.1:" in listing.visible
        assert "secret-token" not in listing.text and "/hook" not in listing.text
        assert secret not in listing.text
        tested = await ask(fake_tg, "/webhook test")
        assert tested.visible.count("✅") == 2, tested.visible
        assert hook.verify(hook.requests[-1]) and hook.requests[-1].json["test"] is True
        assert "pressurebot test" in discord.requests[-1].json["content"]
        removed = await ask(fake_tg, "/webhook remove 1")
        assert removed.visible.startswith("Removed #1 HTTPS webhook")
        assert "this chat has 1" in (await ask(fake_tg, "/webhook remove 5")).visible
    # Stored encrypted: the dump holds no URL; the key opens it.
    async with sessions() as s:
        [row] = (await s.scalars(select(Destination))).all()
    assert "secret-token" not in row.url_enc and row.secret_enc is None
    box = SecretBox(KEY)
    assert box.open(row.url_enc).endswith("/api/webhooks/123456789/secret-token")


async def test_in_a_group_admins_only_and_the_secret_goes_private(
    start, loopback, fake_tg: FakeTelegram
):
    await start(loopback)
    fake_tg.add_chat(GROUP, "supergroup")
    fake_tg.add_chat(USER)
    fake_tg.set_admins(GROUP, USER)
    async with SignedReceiver() as hook:
        reply = await ask(fake_tg, f"/webhook add https {hook.url}", GROUP, user_id=7)
        assert "administrators" in reply.visible
        before = len(fake_tg.messages_to(USER))
        reply = await ask(fake_tg, f"/webhook add https {hook.url}", GROUP, user_id=USER)
        assert "sent to you in a private message" in reply.visible
        [private] = (await fake_tg.wait_for_messages(USER, before + 1))[before:]
        assert "Signing secret" in private.visible
        secret = private.visible.split("shown once:\n")[1].strip()
        assert secret not in "".join(m.text for m in fake_tg.messages_to(GROUP))


async def test_without_a_secret_key_add_refuses_and_names_it(
    start, make_settings, fake_tg: FakeTelegram
):
    await start(make_settings())
    reply = await ask(fake_tg, "/webhook add discord https://discord.com/api/webhooks/1/x")
    assert "[destinations] secret_key" in reply.visible
    assert "PRESSUREBOT_DESTINATIONS__SECRET_KEY" in reply.visible


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("https://127.0.0.1/hook", "loopback address (127.0.0.1)"),
        ("https://10.1.2.3/hook", "private address (10.1.2.3)"),
        ("https://169.254.169.254/latest/meta-data", "link-local (cloud metadata)"),
        ("https://[::1]/hook", "loopback address (::1)"),
        ("https://internal.test/hook", "internal.test is a private address (192.168.7.7)"),
        ("http://example.test/hook", "only https:// URLs are accepted"),
    ],
)
async def test_ssrf_targets_are_refused_with_a_clear_reply(
    start, make_settings, sessions, fake_tg: FakeTelegram, url: str, words: str
):
    runtime = await start(with_destinations(make_settings()))
    # A resolver the test controls: internal.test resolves to a private address.
    runtime.bot.deps.resolver = MapResolver({"internal.test": "192.168.7.7"})
    reply = await ask(fake_tg, f"/webhook add https {url}")
    assert reply.visible.startswith("⛔ That URL is refused:"), reply.visible
    assert words in reply.visible
    async with sessions() as s:
        assert (await s.scalars(select(Destination))).all() == []


async def test_a_discord_kind_needs_a_discord_url(start, make_settings, fake_tg: FakeTelegram):
    runtime = await start(with_destinations(make_settings()))
    runtime.bot.deps.resolver = MapResolver({"example.test": "93.184.216.34"})
    reply = await ask(fake_tg, "/webhook add discord https://example.test/hook")
    assert "discord.com/api/webhooks/" in reply.visible


async def test_a_real_length_discord_url_is_taken_and_never_shown(
    start, make_settings, sessions, fake_tg: FakeTelegram
):
    runtime = await start(with_destinations(make_settings()))
    runtime.bot.deps.resolver = MapResolver({"discord.com": "162.159.128.233"})
    token = "AbCdEfGh" * 8 + "IjKl"  # 68 characters, like Discord's
    url = f"https://discord.com/api/webhooks/1234567890123456789/{token}"
    reply = await ask(fake_tg, f"/webhook add discord {url}")
    assert reply.visible.startswith("✅ #1 Discord discord.com/••• added"), reply.visible
    listing = await ask(fake_tg, "/webhook list")
    assert "1. Discord discord.com/•••" in listing.visible and token not in listing.text
    async with sessions() as s:
        [row] = (await s.scalars(select(Destination))).all()
    assert token not in row.url_enc and SecretBox(KEY).open(row.url_enc) == url
