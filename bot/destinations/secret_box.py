"""Destination URLs and signing secrets, encrypted at rest with Fernet.

A Discord webhook URL carries its token in the path, so the whole URL is a secret, as
is the HMAC key of an HTTPS webhook. They are stored as Fernet tokens under
`destinations.secret_key` (config or PRESSUREBOT_DESTINATIONS__SECRET_KEY): a database
dump alone reveals neither. Rotating the key means re-adding the destinations.
"""

from __future__ import annotations

import secrets

from cryptography.fernet import Fernet, InvalidToken

from bot.config import Settings


class SecretBoxError(Exception):
    """A stored token the configured key cannot open (the key changed)."""


class SecretBox:
    def __init__(self, key: str) -> None:
        self._fernet = Fernet(key.encode())

    @classmethod
    def from_settings(cls, settings: Settings) -> SecretBox | None:
        """None when `destinations.secret_key` is not set: destinations are off."""
        key = settings.destinations.secret_key
        return None if key is None else cls(key.get_secret_value())

    def seal(self, text: str) -> str:
        return self._fernet.encrypt(text.encode()).decode()

    def open(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken as exc:
            raise SecretBoxError("destinations.secret_key does not open this destination") from exc


def new_signing_secret() -> str:
    """32 random bytes as 64 hex characters: the receiver's HMAC-SHA256 key."""
    return secrets.token_hex(32)
