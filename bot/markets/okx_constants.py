"""OKX v5 (USDT-margined perpetual swaps): endpoints, rate limits, ban rules, error codes.

Data only, read by the adapter (bot/markets/okx.py) and the shared client and throttle.
Source: OKX's v5 API docs, https://www.okx.com/docs-v5/en/ (public data, market data,
trading statistics; "Rate limits"; error codes). The base URL is a setting,
`exchange.okx_base_url`.
"""

from __future__ import annotations

from bot.markets.throttle import VenueLimits, Window

INSTRUMENTS = "/api/v5/public/instruments"
OPEN_INTEREST = "/api/v5/public/open-interest"
MARK_PRICE = "/api/v5/public/mark-price"
INDEX_TICKERS = "/api/v5/market/index-tickers"
FUNDING_RATE = "/api/v5/public/funding-rate"
OI_HISTORY = "/api/v5/rubik/stat/contracts/open-interest-history"
# Long/short account ratio per swap (bot/markets/positioning.py): rows [ts, ratio].
LS_ACCOUNT_RATIO = "/api/v5/rubik/stat/contracts/long-short-account-ratio-contract"
# No mark, index, funding or OI here; only the 24h volume for the universe's floor.
TICKERS = "/api/v5/market/tickers"

# Every answer is {"code": "0", "msg": "", "data": [...]}; a code other than "0" is an
# error, and 50011 is "too many requests" (with HTTP 429, or 200).
ENVELOPE_CODE = "code"
RATE_LIMITED = "50011"
# "Instrument ID does not exist" and "... doesn't exist / is not online".
SYMBOL_ERRORS = frozenset({51001, 51000, 51014})

HISTORY_PAGE = 100  # the endpoint's maximum; it keeps only the latest 1,440 rows
HISTORY_MAX_PAGES = 15
HISTORY_PERIOD_MS = 5 * 60_000

# Limits are per IP and per endpoint, over 2 s. Half of each endpoint's documented
# budget, so a `scan` beside the service fits too. A region block is 403 or 451.
LIMITS = VenueLimits(
    venue="okx",
    windows={
        INSTRUMENTS: Window(10, 2.0),
        OPEN_INTEREST: Window(10, 2.0),
        MARK_PRICE: Window(5, 2.0),
        INDEX_TICKERS: Window(10, 2.0),
        FUNDING_RATE: Window(5, 2.0),
        TICKERS: Window(10, 2.0),
        OI_HISTORY: Window(5, 2.0),
        # Documented: 5 per 2 s per IP; half, as above.
        LS_ACCOUNT_RATIO: Window(2, 2.0),
    },
    block_statuses=frozenset({403, 451}),
    block_seconds=600.0,
    envelope_code_key=ENVELOPE_CODE,
    envelope_rate_limited=frozenset({RATE_LIMITED}),
)
# Positioning has its own endpoint window here (nothing the cycle uses): no reserve.
POSITIONING_RESERVE = 0
