"""The sections of `Settings` (bot/config.py): one pydantic model per TOML table.

Kept apart from the loader so each stays readable; `bot.config` re-exports them all.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    IPvAnyNetwork,
    SecretStr,
    field_validator,
    model_validator,
)

BAND_NAMES = ("neutral", "lean", "stretched", "stressed")
BandName = Literal["neutral", "lean", "stretched", "stressed"]
WEBHOOK_SECRET_RE = re.compile(r"[A-Za-z0-9_-]{1,256}")
# The venues pressurebot can score (bot/markets/*), in the order they are listed.
VenueName = Literal["binance", "bybit", "okx"]
VENUES: tuple[VenueName, ...] = ("binance", "bybit", "okx")


class _KeyError(ValueError):
    """A cross-field check that names the key at fault, below the field it ran on."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key
        self.message = message


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TelegramSettings(_Section):
    token: SecretStr | None = None
    base_url: str = "https://api.telegram.org/bot"
    admin_ids: list[int] = Field(default_factory=list)
    # Global send budget; Telegram allows about 30 msg/s per bot.
    max_messages_per_second: float = Field(default=30.0, gt=0)
    # Paid broadcast (Bot API 7.11, billed in Stars): alerts up to 1000 msg/s (docs/alerts.md).
    allow_paid_broadcast: bool = False
    paid_broadcast_messages_per_second: float = Field(default=1000.0, gt=0, le=1000)
    private_chat_interval_seconds: float = Field(default=1.0, ge=0)
    group_messages_per_minute: int = Field(default=20, ge=1)
    # Tries for a delivery that fails with an unexpected Telegram error (not a network
    # error, 5xx, timeout or flood wait: those are retried until the delivery expires).
    max_send_attempts: int = Field(default=5, ge=1)
    # A pending delivery older than this is dropped (reason "stale") instead of sent.
    delivery_expiry_hours: float = Field(default=6.0, gt=0)
    # Cap of the retry backoff after a failed send, so a push leaves soon after recovery.
    retry_backoff_max_seconds: float = Field(default=60.0, gt=0)
    subscriptions_per_chat: int = Field(default=200, ge=1)
    commands_per_minute: int = Field(default=20, ge=1)
    # Commands per minute one group accepts from all its members together; beyond it the
    # group gets one polite note a minute. Below group_messages_per_minute, so answers,
    # the note and alerts fit Telegram's 20 messages/min per group.
    group_commands_per_minute: int = Field(default=10, ge=1)
    # An answer that cannot leave within this many seconds (its chat's Telegram budget
    # is used up, or Telegram asked to pause) is dropped instead of holding one of the
    # bot's concurrent update slots. 0: wait as long as it takes.
    reply_max_wait_seconds: float = Field(default=5.0, ge=0)
    max_argument_length: int = Field(default=64, ge=8)
    poll_timeout_seconds: int = Field(default=30, ge=0)
    # /symbol charts drawn ahead after each cycle, only those users open: the top
    # chart_prerender_top by score, every symbol a chat subscribes to, every chart opened
    # within chart_prerender_viewed_hours; highest score first, one at a time, at most
    # chart_prerender_symbols of them (bounds the chart CPU per cycle; README, Performance).
    # Other charts are drawn on first request and cached until the next cycle.
    # chart_prerender_symbols 0: on demand only.
    chart_prerender_symbols: int = Field(default=100, ge=0)
    chart_prerender_top: int = Field(default=10, ge=0)  # /top's first page
    chart_prerender_viewed_hours: float = Field(default=24.0, ge=0)
    # Commands reuse the latest cycle id this long instead of asking the DB each time:
    # after a cycle lands, /top shows it within this many seconds.
    latest_cycle_cache_seconds: float = Field(default=1.0, ge=0)
    # "The last 20 times this symbol looked like this" on the /symbol card and pushes,
    # from the shipped history, scored once per process in a child process on first use
    # (with the built-ins' evidence, bot/replay/history_sources.py); nothing waits for it.
    lookalikes: bool = True
    # Webhook mode (docs/operations.md, "Webhook mode behind a load balancer"): the public
    # HTTPS URL Telegram posts updates to; every replica serves its path on [http] port.
    # None: long polling by one elected replica.
    webhook_url: str | None = None
    # Sent by Telegram in X-Telegram-Bot-Api-Secret-Token with every update; required
    # with webhook_url. 1-256 characters of A-Z a-z 0-9 _ - (Telegram's rule).
    webhook_secret: SecretStr | None = None

    @model_validator(mode="after")
    def _webhook(self) -> TelegramSettings:
        url, secret = self.webhook_url, self.webhook_secret
        if url is not None:
            parts = urlsplit(url)
            if parts.scheme != "https" or not parts.hostname:
                raise _KeyError("webhook_url", "must be an https:// URL (Telegram needs HTTPS)")
            if parts.path.rstrip("/") in ("", "/healthz", "/metrics"):
                raise _KeyError("webhook_url", "needs a path of its own, as https://host/tg/hook")
            if secret is None:
                raise _KeyError("webhook_secret", "required with telegram.webhook_url")
        if secret is not None and not WEBHOOK_SECRET_RE.fullmatch(secret.get_secret_value()):
            raise _KeyError("webhook_secret", "must be 1-256 characters of A-Z a-z 0-9 _ -")
        return self


class ExchangeSettings(_Section):
    name: Literal["binance"] = "binance"
    base_url: str = "https://fapi.binance.com"
    quote_assets: list[str] = Field(default_factory=lambda: ["USDT"])
    concurrency: int = Field(default=16, ge=1, le=256)
    request_timeout_seconds: float = Field(default=10.0, gt=0)
    max_retries: int = Field(default=3, ge=0)
    # Binance allows 2400 weight/min per IP; slow down well before it.
    weight_limit_per_minute: int = Field(default=2400, ge=1)
    weight_safety_margin: int = Field(default=300, ge=0)
    # /futures/data (openInterestHist, the long/short ratios) has its own limit of 1000
    # calls per 5 minutes.
    history_calls_per_5m: int = Field(default=900, ge=1, le=1000)
    universe_ttl_seconds: int = Field(default=3600, ge=1)
    funding_info_ttl_seconds: int = Field(default=3600, ge=1, le=3600)
    min_quote_volume_usd: float = Field(default=0.0, ge=0)
    # Venues scored every cycle; a coin listed on two or more also gets an aggregate
    # ("all") row (docs/scoring.md, "Across venues"). ["binance"]: exactly as before.
    venues: list[VenueName] = Field(default_factory=lambda: list(VENUES))
    bybit_base_url: str = "https://api.bybit.com"
    okx_base_url: str = "https://www.okx.com"
    # A venue failing this many cycles in a row leaves the aggregates until it answers
    # again (at once when it refuses us: HTTP 403/451); meanwhile they show as partial.
    venue_drop_after_cycles: int = Field(default=3, ge=1)

    @property
    def default_view(self) -> str:
        """What the bot, dashboard and health show by default: the one venue, or the
        cross-venue aggregate ("all") when several are enabled."""
        return self.venues[0] if len(self.venues) == 1 else "all"

    def venue_base_url(self, venue: str) -> str:
        """The base URL `venue` is reached at (`base_url` is Binance's)."""
        return {"bybit": self.bybit_base_url, "okx": self.okx_base_url}.get(venue, self.base_url)

    @field_validator("venues")
    @classmethod
    def _venues(cls, v: list[VenueName]) -> list[VenueName]:
        if not v:
            raise ValueError("must list at least one venue")
        if len(set(v)) != len(v):
            raise ValueError("lists a venue twice")
        return [name for name in VENUES if name in v]

    @field_validator("quote_assets")
    @classmethod
    def _upper(cls, v: list[str]) -> list[str]:
        if not v:
            raise ValueError("must list at least one quote asset")
        return [a.upper() for a in v]


SUPPORTED_DATABASE_DRIVERS = ("sqlite+aiosqlite", "postgresql+asyncpg")


class DatabaseSettings(_Section):
    url: str = "sqlite+aiosqlite:///./pressurebot.db"
    busy_timeout_ms: int = Field(default=5000, ge=0)
    echo: bool = False
    # PostgreSQL only (SQLite connections are per file). Connections kept open per
    # process, and how many more it may open at a busy moment: a server's
    # max_connections (100 by default) is shared by every replica and tool.
    pool_size: int = Field(default=5, ge=1)
    max_overflow: int = Field(default=10, ge=0)

    @field_validator("url")
    @classmethod
    def _async_driver(cls, v: str) -> str:
        # Caught here, a typo is one line naming the key instead of a SQLAlchemy traceback
        # (unparsable URL, or a sync driver such as plain postgresql:// -> psycopg2).
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        hint = "use sqlite+aiosqlite:///path/to.db or postgresql+asyncpg://user@host/db"
        try:
            driver = make_url(v).drivername
        except ArgumentError:
            raise ValueError(f"not a database URL; {hint}") from None
        if driver not in SUPPORTED_DATABASE_DRIVERS:
            raise ValueError(f"unsupported driver {driver!r}; {hint}")
        return v


class ScorerSettings(_Section):
    interval_seconds: float = Field(default=300, ge=1)
    # A window (1h/4h/24h) is anchored at the stored sample closest to its target time
    # (now - 1h/4h/24h), earlier or later by at most this much, and never less than half
    # the interval plus a minute (bot/scoring/windows.py). None there: unknown (null), never 0.
    window_tolerance_seconds: int = Field(default=900, ge=60)
    oi_sample_retention_hours: int = Field(default=48, ge=25)
    snapshot_retention_days: int = Field(default=30, ge=1)
    # The compact hourly rows (replay --from-db, the symbol's own percentiles).
    hourly_retention_days: int = Field(default=400, ge=1)
    backfill: bool = True
    # A cycle stops fetching at this share of interval_seconds; symbols not fetched by
    # then count as failed for that cycle, so one hanging request cannot hold it.
    cycle_deadline_share: float = Field(default=0.8, gt=0, le=1)


class AlertSettings(_Section):
    # A new band is confirmed when the score is this many points inside it...
    hysteresis_points: int = Field(default=2, ge=0)
    # ...or has stayed in it for this many consecutive cycles.
    confirm_cycles: int = Field(default=2, ge=1)
    # Calibrated on recorded history (docs/scoring.md, Evidence): stretched and a
    # 30-minute cooldown gave 2.7 pushes per symbol-day in the fit period.
    default_min_band: BandName = "stressed"
    default_market_min_band: BandName = "stressed"
    cooldown_minutes: int = Field(default=240, ge=0)
    # What `/subscribe BTC` (no kind named) and the card's Subscribe button follow.
    # Squeeze alerts showed no lift out of sample in any rule tried (docs/scoring.md,
    # Evidence), so they are opt-in: `/subscribe BTC squeeze`.
    default_kinds: tuple[Literal["bands", "squeeze", "liquidations"], ...] = Field(
        default=("bands",), min_length=1
    )
    # Liquidation cascades (`/subscribe BTC liquidations`; docs/alerts.md, "Cascades"):
    # one side's liquidations over the last `cascade_window_minutes` reach both this
    # percent of open interest and this multiple of the symbol's normal. No stored
    # history chose these yet: judgement, to be re-fitted (docs/design-notes.md).
    cascade_oi_pct: float = Field(default=0.3, gt=0)
    cascade_x_normal: float = Field(default=5.0, gt=0)
    cascade_window_minutes: int = Field(default=15, ge=1, le=60)
    # No cascade alert from a window whose streams were live less than this share of it.
    cascade_min_coverage: float = Field(default=0.9, ge=0, le=1)
    # A cascade ends after confirm_cycles cycles under this share of both thresholds.
    cascade_exit_share: float = Field(default=0.5, gt=0, le=1)
    # Cycles the card keeps saying a squeeze was flushed after its cascade ended.
    cascade_flushed_cycles: int = Field(default=6, ge=0)
    # Pushes (messages) per chat per local day; past it one note, then alerts are held
    # until the chat's next local day (docs/alerts.md). 0: no cap. Chats may override.
    daily_cap: int = Field(default=20, ge=0)
    # Cycles that fetched less than this share of the universe emit no alerts.
    min_fetched_share: float = Field(default=0.8, ge=0, le=1)
    event_retention_days: int = Field(default=7, ge=1)
    # Rules a chat may keep (/rule add; docs/rules.md).
    rules_per_chat: int = Field(default=20, ge=1, le=1000)


class HttpSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(default=0, ge=0, le=65535)
    # /healthz turns unhealthy when the last good cycle is older than this many intervals.
    stale_after_intervals: float = Field(default=3.0, gt=0)
    # Asked for by the web dashboard (not /healthz, /metrics) when set: README, "Web dashboard".
    dashboard_token: SecretStr | None = Field(default=None, min_length=16)
    # Reverse proxies (addresses or networks) whose X-Forwarded-Proto is believed: a
    # request from one that says "https" gets the dashboard cookie marked Secure.
    trusted_proxies: list[IPvAnyNetwork] = Field(default_factory=list)


class ReplicaSettings(_Section):
    # This process's name among replicas sharing one PostgreSQL database: it holds
    # leases and outbox claims under it. Unset: "<hostname>:<pid>". A stable name (the
    # systemd instance) lets a restarted replica release its own claims at once.
    name: str | None = Field(default=None, min_length=1, max_length=100)
    # How long the scorer and update leases and outbox claims last without renewal (renewed
    # every third of it): a standby takes over this long after a replica dies.
    lease_seconds: float = Field(default=15.0, ge=2, le=600)


class LiquidationSettings(_Section):
    """The venues' public liquidation streams (docs/scoring.md, "Liquidations"): one
    replica holds them (a lease); each enabled venue (exchange.venues) is streamed."""

    enabled: bool = True
    # WebSocket roots; the stream paths are added (bot/liquidations/venues.py). Tests
    # and self-hosted relays point them elsewhere.
    binance_ws_url: str = "wss://fstream.binance.com"
    bybit_ws_url: str = "wss://stream.bybit.com"
    okx_ws_url: str = "wss://ws.okx.com:8443"

    @field_validator("binance_ws_url", "bybit_ws_url", "okx_ws_url")
    @classmethod
    def _ws_url(cls, v: str) -> str:
        parts = urlsplit(v)
        if parts.scheme not in ("ws", "wss") or not parts.hostname:
            raise ValueError("must be a ws:// or wss:// URL")
        return v.rstrip("/")


class DestinationSettings(_Section):
    """Discord and HTTPS webhooks a chat attaches (/webhook; docs/alerts.md, "Destinations")."""

    # A Fernet key (32 bytes, url-safe base64; docs/alerts.md shows how to make one) that
    # encrypts each destination's URL and signing secret at rest: a database dump alone
    # does not reveal them. Unset: /webhook add refuses and says what to set.
    secret_key: SecretStr | None = None
    # Destinations a chat may keep.
    per_chat: int = Field(default=3, ge=1, le=20)
    # Seconds for one POST: connect, send and read the answer.
    timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    # Bytes of a receiver's answer read at most; the rest is never read.
    max_response_bytes: int = Field(default=65536, ge=1024, le=1_048_576)
    # Lets destinations resolve to loopback/private addresses and use plain http://.
    # For tests and a receiver on your own network only: it opens the SSRF door.
    allow_private_targets: bool = False

    @field_validator("secret_key")
    @classmethod
    def _fernet_key(cls, v: SecretStr | None) -> SecretStr | None:
        if v is None or not v.get_secret_value():
            return None
        raw = v.get_secret_value().encode()
        try:
            ok = len(base64.urlsafe_b64decode(raw)) == 32
        except (ValueError, binascii.Error):
            ok = False
        if not ok:
            raise ValueError("must be a Fernet key: 32 bytes in url-safe base64 (44 characters)")
        return v


class LoggingSettings(_Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["text", "json"] = "text"

    @field_validator("level", mode="before")
    @classmethod
    def _upper(cls, v: Any) -> Any:
        return v.upper() if isinstance(v, str) else v
