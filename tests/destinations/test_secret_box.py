"""Secrets at rest: the key comes from config or the environment, a bad key is one
readable line, and a sealed URL reveals nothing without the key."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from bot.config import ConfigError, load_settings
from bot.destinations.https_hook import signature
from bot.destinations.secret_box import SecretBox, SecretBoxError, new_signing_secret

URL = "https://discord.com/api/webhooks/1234/very-secret-token"


def test_key_from_the_environment_seals_and_opens() -> None:
    key = Fernet.generate_key().decode()
    settings = load_settings(None, env={"PRESSUREBOT_DESTINATIONS__SECRET_KEY": key})
    box = SecretBox.from_settings(settings)
    assert box is not None
    token = box.seal(URL)
    assert "very-secret-token" not in token and "discord" not in token
    assert box.open(token) == URL
    other = SecretBox(Fernet.generate_key().decode())
    with pytest.raises(SecretBoxError):
        other.open(token)


def test_no_key_means_no_box_and_a_bad_key_is_one_line() -> None:
    assert SecretBox.from_settings(load_settings(None, env={})) is None
    with pytest.raises(ConfigError) as caught:
        load_settings(None, env={"PRESSUREBOT_DESTINATIONS__SECRET_KEY": "hunter2"})
    message = str(caught.value)
    assert "destinations.secret_key" in message and "Fernet key" in message
    assert "\n" not in message and "hunter2" not in message


def test_signature_is_hmac_sha256_of_the_raw_body() -> None:
    secret = new_signing_secret()
    assert len(secret) == 64
    # RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
    assert signature("Jefe", b"what do ya want for nothing?") == (
        "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    )
