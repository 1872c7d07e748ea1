"""Bybit v5 (USDT linear perpetuals): endpoints, rate limits, ban rules and error codes.

Data only, read by the adapter (bot/markets/bybit.py) and the shared client and throttle.
Source: Bybit's v5 API docs, https://bybit-exchange.github.io/docs/v5/intro (market:
instruments-info, tickers, open-interest; https://bybit-exchange.github.io/docs/v5/rate-limit;
error codes). The base URL is a setting, `exchange.bybit_base_url`.
"""

from __future__ import annotations

from bot.markets.throttle import VenueLimits, Window

INSTRUMENTS = "/v5/market/instruments-info"
TICKERS = "/v5/market/tickers"
OPEN_INTEREST = "/v5/market/open-interest"
# Long/short account ratio (bot/markets/positioning.py): buyRatio and sellRatio.
ACCOUNT_RATIO = "/v5/market/account-ratio"

# Every answer is an envelope {"retCode", "retMsg", "result", ...}, HTTP 200 even for
# errors; 10006 is "too many requests". retCode may come as an int or a string.
ENVELOPE_CODE = "retCode"
RATE_LIMITED = 10006
# "params error" (10001) is what an unknown or delisted symbol gets.
SYMBOL_ERRORS = frozenset({10001})

INSTRUMENTS_PAGE = 1000
HISTORY_PAGE = 200  # the endpoint's maximum
HISTORY_PERIOD_MS = 5 * 60_000

# 600 requests per 5 s per IP; keep a sixth spare for other processes on the IP. Over
# it, the IP gets HTTP 403 "access too frequent" for at least 10 minutes; a region
# block is a 403 (from the CDN) or 451. Both stop every request for a while.
LIMITS = VenueLimits(
    venue="bybit",
    windows={"": Window(limit=500, seconds=5.0)},
    block_statuses=frozenset({403, 451}),
    block_seconds=600.0,
    envelope_code_key=ENVELOPE_CODE,
    envelope_rate_limited=frozenset({str(RATE_LIMITED)}),
)
# The positioning fetch sends only while more than this many of the 500 slots per 5 s
# are free: at most a fifth of the budget, the rest stays the cycle's.
POSITIONING_RESERVE = 400
