"""Binance USDⓈ-M futures: endpoints, request weights, rate limits and error codes.

Data only, read by the adapter (bot/markets/binance.py) and the shared client and
throttle (bot/markets/rest_client.py, throttle.py). Source: Binance's USDⓈ-M futures
API docs (https://developers.binance.com/docs/derivatives/usds-margined-futures), the
"General Info" (limits, 418/429), each endpoint's "Request Weight", and "Error Codes".
The base URL is a setting, `exchange.base_url` (default https://fapi.binance.com).
"""

from __future__ import annotations

from bot.markets.throttle import MinuteWeight, VenueLimits, Window

EXCHANGE_INFO = "/fapi/v1/exchangeInfo"
TICKER_24H = "/fapi/v1/ticker/24hr"
PREMIUM_INDEX = "/fapi/v1/premiumIndex"
FUNDING_INFO = "/fapi/v1/fundingInfo"
OPEN_INTEREST = "/fapi/v1/openInterest"
OPEN_INTEREST_HIST = "/futures/data/openInterestHist"
# Long/short positioning (bot/markets/positioning.py): the latest 5-minute ratio each.
GLOBAL_LS_ACCOUNT = "/futures/data/globalLongShortAccountRatio"
TOP_LS_POSITION = "/futures/data/topLongShortPositionRatio"
# Every /futures/data endpoint (the two above and openInterestHist) weighs 0 and is
# limited to 1000 requests per 5 min per IP; one window for the whole family, so the
# positioning fetch and the OI backfill never add up past it together.
FUTURES_DATA = "/futures/data/"

# Request weights, for the calls we make (all symbols at once, or one symbol).
# fundingInfo and openInterestHist cost no IP weight; each has its own request-count
# limit instead (the latter is the history window below).
WEIGHT_EXCHANGE_INFO = 1
WEIGHT_TICKER_24H_ALL = 40
WEIGHT_PREMIUM_INDEX_ALL = 10
WEIGHT_FUNDING_INFO = 0
WEIGHT_OPEN_INTEREST = 1
WEIGHT_OPEN_INTEREST_HIST = 0
WEIGHT_POSITIONING = 0

# 2400 weight per clock minute per IP, counted by the server in this header.
WEIGHT_LIMIT_PER_MINUTE = 2400
WEIGHT_HEADER = "X-MBX-USED-WEIGHT-1M"
# openInterestHist: 1000 calls per 5 minutes per IP.
HISTORY_CALLS_PER_5M = 1000
# A 418 ban lasts at least two minutes; assume that when no Retry-After comes with it.
RATE_BAN_SECONDS = 120.0

INVALID_SYMBOL = -1121

HISTORY_PERIOD_MS = 5 * 60_000
HISTORY_PAGE_LIMIT = 500
# History reaches back about 30 days; an older startTime is an error (-1130).
HISTORY_MAX_AGE_MS = int(29.5 * 24 * 3_600_000)
# Slots of the /futures/data window the positioning fetch leaves to the OI backfill
# (a third of the window if that is less): it sends only while more than this many are
# free, so scoring's history comes first.
POSITIONING_RESERVE = 300


def limits(weight_per_minute: int, margin: int, history_calls_per_5m: int) -> VenueLimits:
    """Binance's limits with the operator's budget (`exchange.weight_limit_per_minute`,
    `weight_safety_margin`, `history_calls_per_5m`: defaults 2400, 300 and 900).

    The history window covers every /futures/data endpoint (openInterestHist and the
    long/short ratios). A full budget is not waited for (that would be minutes): the
    history request gives up at once and those windows stay unknown this cycle. 403 and 451 are
    not a block here: Binance words its refusals as 418 (ban) and 4xx with a code.
    """
    return VenueLimits(
        venue="binance",
        windows={FUTURES_DATA: Window(history_calls_per_5m, 300.0)},
        minute_weight=MinuteWeight(weight_per_minute, margin, WEIGHT_HEADER),
        history_max_wait_seconds=0.0,
        rate_ban_statuses=frozenset({418}),
        rate_ban_seconds=RATE_BAN_SECONDS,
    )
