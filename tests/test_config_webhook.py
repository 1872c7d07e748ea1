"""Webhook mode settings ([telegram] webhook_url, webhook_secret): a mistake is one line
naming the key, and the secret is never echoed."""

from __future__ import annotations

import pytest

from bot.config import ConfigError, load_settings

URL = "PRESSUREBOT_TELEGRAM__WEBHOOK_URL"
SECRET = "PRESSUREBOT_TELEGRAM__WEBHOOK_SECRET"
PORT = "PRESSUREBOT_HTTP__PORT"


def _error(env: dict[str, str]) -> str:
    with pytest.raises(ConfigError) as info:
        load_settings(env=env)
    return str(info.value)


def test_webhook_mode_needs_a_secret_and_the_http_port() -> None:
    line = _error({URL: "https://bot.example.com/tg"})
    assert line.startswith("invalid config: telegram.webhook_secret: required")
    line = _error({URL: "https://bot.example.com/tg", SECRET: "abc"})
    assert line.startswith("invalid config: http.port: ") and "webhook" in line
    ok = load_settings(env={URL: "https://bot.example.com/tg", SECRET: "abc", PORT: "8080"})
    assert ok.telegram.webhook_secret is not None
    assert ok.telegram.webhook_secret.get_secret_value() == "abc"
    assert "abc" not in repr(ok.telegram)


@pytest.mark.parametrize("secret", ["has space", "semi;colon", "x" * 257, "ünï"])
def test_a_secret_telegram_would_refuse_is_one_line_and_not_echoed(secret: str) -> None:
    line = _error({URL: "https://bot.example.com/tg", SECRET: secret, PORT: "8080"})
    assert line.startswith("invalid config: telegram.webhook_secret: must be 1-256")
    assert secret not in line and "\n" not in line


@pytest.mark.parametrize(
    "url",
    ["http://bot.example.com/tg", "https://bot.example.com/", "https:///tg", "https://h/healthz"],
)
def test_the_webhook_url_must_be_https_with_a_path_of_its_own(url: str) -> None:
    line = _error({URL: url, SECRET: "abc", PORT: "8080"})
    assert line.startswith("invalid config: telegram.webhook_url: ")


def test_polling_is_the_default() -> None:
    assert load_settings(env={}).telegram.webhook_url is None
