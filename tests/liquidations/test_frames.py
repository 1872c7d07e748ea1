"""Each venue's frames into events, from the frame shapes in the venues' docs."""

from __future__ import annotations

import json

import pytest

from bot.liquidations.frames import parse_binance, parse_bybit, parse_okx

# The USDⓈ-M docs' own example ("Liquidation Order Streams").
BINANCE_DOC = {
    "e": "forceOrder",
    "E": 1568014460893,
    "o": {
        "s": "BTCUSDT",
        "S": "SELL",
        "o": "LIMIT",
        "f": "IOC",
        "q": "0.014",
        "p": "9910",
        "ap": "9910",
        "X": "FILLED",
        "l": "0.014",
        "z": "0.014",
        "T": 1568014460893,
    },
}


def test_binance_sell_order_is_a_long_liquidated() -> None:
    parsed = parse_binance(json.dumps(BINANCE_DOC))
    assert parsed.kind == "data"
    (event,) = parsed.events
    assert (event.venue, event.symbol, event.side) == ("binance", "BTCUSDT", "long")
    assert event.qty == pytest.approx(0.014) and event.price == 9910
    assert event.usd == pytest.approx(138.74) and event.ts_ms == 1568014460893


def test_binance_buy_order_is_a_short_and_average_price_wins() -> None:
    frame = {**BINANCE_DOC, "o": {**BINANCE_DOC["o"], "S": "BUY", "p": "9000", "ap": "9100"}}
    (event,) = parse_binance(json.dumps(frame)).events
    assert event.side == "short" and event.price == 9100


def test_binance_odd_frames() -> None:
    assert parse_binance('{"e":"forceOrder","o":{"s":"X"').kind == "malformed"
    assert parse_binance('{"result":null,"id":1}').kind == "unknown"
    broken = {**BINANCE_DOC, "o": {**BINANCE_DOC["o"], "q": "abc", "z": "0"}}
    assert parse_binance(json.dumps(broken)).kind == "malformed"


def test_bybit_buy_means_a_long_was_liquidated() -> None:
    frame = {
        "topic": "allLiquidation.ROSEUSDT",
        "type": "snapshot",
        "ts": 1739502303204,
        "data": [
            {"T": 1739502302929, "s": "ROSEUSDT", "S": "Sell", "v": "20000", "p": "0.04499"},
            {"T": 1739502302930, "s": "ROSEUSDT", "S": "Buy", "v": "100", "p": "0.045"},
        ],
    }
    parsed = parse_bybit(json.dumps(frame))
    assert [e.side for e in parsed.events] == ["short", "long"]
    assert parsed.events[0].usd == pytest.approx(899.8)


def test_bybit_control_frames() -> None:
    pong = {"success": True, "ret_msg": "pong", "conn_id": "x", "req_id": "", "op": "ping"}
    assert parse_bybit(json.dumps(pong)).kind == "pong"
    ack = {"success": True, "ret_msg": "", "conn_id": "x", "req_id": "liq1", "op": "subscribe"}
    assert (parse_bybit(json.dumps(ack)).kind, parse_bybit(json.dumps(ack)).req_id) == (
        "ack",
        "liq1",
    )
    refused = {**ack, "success": False, "ret_msg": "error:handler not found,topic:x"}
    assert parse_bybit(json.dumps(refused)).kind == "sub_error"
    assert parse_bybit('{"topic":"tickers.BTCUSDT","data":{}}').kind == "unknown"
    assert parse_bybit("not json").kind == "malformed"


def test_okx_contracts_times_ct_val_and_position_side() -> None:
    frame = {
        "arg": {"channel": "liquidation-orders", "instType": "SWAP"},
        "data": [
            {
                "details": [
                    {"bkLoss": "0", "bkPx": "60000", "ccy": "", "posSide": "net",
                     "side": "sell", "sz": "5", "ts": "1723892524781"},
                    {"bkLoss": "0", "bkPx": "61000", "ccy": "", "posSide": "short",
                     "side": "buy", "sz": "2", "ts": "1723892524000"},
                ],
                "instFamily": "BTC-USDT",
                "instId": "BTC-USDT-SWAP",
                "instType": "SWAP",
                "uly": "BTC-USDT",
            },
            {"details": [{"bkPx": "1", "sz": "1", "side": "sell", "ts": "1"}],
             "instId": "BTC-USD-SWAP"},
        ],
    }  # fmt: skip
    parsed = parse_okx(json.dumps(frame), {"BTC-USDT-SWAP": 0.01})
    assert [(e.side, e.qty) for e in parsed.events] == [("long", 0.05), ("short", 0.02)]
    assert parsed.events[0].usd == pytest.approx(3000.0)
    assert parsed.skipped == 1  # the inverse swap: not one we size


def test_okx_control_frames() -> None:
    assert parse_okx("pong", {}).kind == "pong"
    ack = {"event": "subscribe", "arg": {"channel": "liquidation-orders"}, "connId": "a"}
    assert parse_okx(json.dumps(ack), {}).kind == "ack"
    error = {"event": "error", "code": "60012", "msg": "Invalid request", "connId": "a"}
    parsed = parse_okx(json.dumps(error), {})
    assert parsed.kind == "sub_error" and "60012" in parsed.detail
    assert parse_okx('{"arg":{"channel":"tickers"},"data":[]}', {}).kind == "unknown"
    assert parse_okx("{", {}).kind == "malformed"


def test_okx_instruments_we_do_not_size_are_skipped_not_malformed() -> None:
    frame = {
        "arg": {"channel": "liquidation-orders", "instType": "SWAP"},
        "data": [{"instId": "BTC-USD-SWAP", "details": [{"side": "sell", "sz": "1"}] * 3}],
    }
    parsed = parse_okx(json.dumps(frame), {})
    assert (parsed.kind, parsed.events, parsed.skipped) == ("data", [], 3)
    broken = {**frame, "data": [{"instId": "BTC-USD-SWAP", "details": [{"sz": "x"}]}]}
    assert parse_okx(json.dumps(broken), {"BTC-USD-SWAP": 100.0}).kind == "malformed"
