"""The connection managers against the loopback fakes: subscribe, heartbeat, reconnect,
resubscribe, lifetime, universe changes, odd frames, bursts. Waits on events only."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable

import pytest

from bot.liquidations.events import LiqEvent
from bot.liquidations.venues import BinanceRules, BybitRules, OkxRules
from fakes.fake_liquidations import FakeBinanceLiq, FakeBybitLiq, FakeOkxLiq, Liq
from tests.liquidations.stream_helpers import Collected, running, until

NOW = int(time.time() * 1000)


@pytest.fixture
async def binance() -> AsyncIterator[FakeBinanceLiq]:
    fake = FakeBinanceLiq()
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def bybit() -> AsyncIterator[FakeBybitLiq]:
    fake = FakeBybitLiq(refuse={"DEADUSDT"})
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def okx() -> AsyncIterator[FakeOkxLiq]:
    fake = FakeOkxLiq()
    await fake.start()
    yield fake
    await fake.stop()


def fast_binance() -> BinanceRules:
    rules = BinanceRules()
    rules.protocol_heartbeat = 0.4  # a ping frame every 0.4 s, a pong due within 0.2 s
    return rules


async def test_binance_sampling_and_a_dropped_connection(binance: FakeBinanceLiq) -> None:
    async with running(fast_binance(), binance) as (stream, got):
        await until(stream, lambda s: s.lives == 1)
        for i in range(5):  # five liquidations of one symbol in one second: one is pushed
            binance.liquidate(Liq("BTCUSDT", "long", 0.1 * (i + 1), 50_000, NOW + i))
        binance.liquidate(Liq("ETHUSDT", "short", 2, 3_000, NOW))
        await binance.tick()
        await got.wait_count(2)
        assert len(binance.sent) == 2
        assert {(e.symbol, e.side, round(e.qty, 3)) for e in got.events} == {
            ("BTCUSDT", "long", 0.5),
            ("ETHUSDT", "short", 2.0),
        }
        dropped_ms = int(time.time() * 1000)
        binance.drop()
        await until(stream, lambda s: s.lives == 2)
        assert sum(stream.stats.drops.values()) == 1
        # Live again, counted from the new connection on: the gap is not covered.
        assert stream.coverage.live and (stream.coverage.live_since_ms or 0) >= dropped_ms


async def test_binance_half_open_socket_is_noticed_by_ping_frames(binance: FakeBinanceLiq) -> None:
    async with running(fast_binance(), binance) as (stream, _got):
        await until(stream, lambda s: s.lives == 1)
        await binance.wait(lambda f: f.pings >= 1)  # heartbeats are answered meanwhile
        binance.half_open()
        await until(stream, lambda s: s.lives == 2)
        assert binance.connections == 2
        assert "stopping" not in stream.stats.drops


async def test_planned_reconnect_before_the_lifetime(binance: FakeBinanceLiq) -> None:
    rules = fast_binance()
    rules.lifetime_s = 0.3
    async with running(rules, binance, lifetime_margin_s=0.0) as (stream, _got):
        await until(stream, lambda s: s.drops.get("lifetime", 0) >= 1 and s.lives >= 2)


async def test_server_closing_at_its_lifetime_is_resumed() -> None:
    fake = FakeOkxLiq(lifetime_s=0.3)
    await fake.start()
    try:
        async with running(OkxRules(lambda: {}), fake) as (stream, _got):
            await until(stream, lambda s: s.lives >= 2)
            assert any("code 1000" in r for r in stream.stats.drops)
    finally:
        await fake.stop()


async def test_bybit_batches_resubscribes_and_follows_the_universe(bybit: FakeBybitLiq) -> None:
    symbols = [f"C{i:02d}USDT" for i in range(25)]
    async with running(BybitRules(symbols), bybit) as (stream, got):
        await until(stream, lambda s: s.lives == 1)
        await bybit.wait(lambda f: len(f.subscribed()) == 25)
        assert [len(r["args"]) for r in bybit.requests] == [10, 10, 5]
        # A universe change: two topics added (one of them refused), three dropped.
        stream.set_symbols([*symbols[3:], "NEWUSDT", "DEADUSDT"])
        await bybit.wait(lambda f: "allLiquidation.NEWUSDT" in f.subscribed())
        await until(stream, lambda s: s.sub_errors >= 2)  # the pair, then DEAD alone
        await bybit.wait(lambda f: len(f.subscribed()) == 23)
        assert bybit.connections == 1  # no reconnect for a universe change
        assert stream.rules.refused == {"DEADUSDT"}  # type: ignore[attr-defined]
        await bybit.push([Liq("NEWUSDT", "long", 3, 2.0, NOW), Liq("C00USDT", "long", 1, 1, NOW)])
        await got.wait_count(1)
        assert [e.symbol for e in got.events] == ["NEWUSDT"]  # C00 was unsubscribed
        bybit.drop()  # resubscribes everything on the new connection
        await until(stream, lambda s: s.lives == 2)
        await bybit.wait(lambda f: len(f.subscribed()) == 23)


async def test_bybit_half_open_is_noticed_by_the_text_ping(bybit: FakeBybitLiq) -> None:
    rules = BybitRules(["BTCUSDT"])
    rules.ping_interval, rules.pong_timeout = 0.2, 0.3
    async with running(rules, bybit) as (stream, _got):
        await until(stream, lambda s: s.lives == 1)
        await bybit.wait(lambda f: f.pings >= 1)
        bybit.half_open()
        await until(stream, lambda s: s.drops.get("no pong", 0) == 1 and s.lives == 2)


async def test_okx_odd_frames_out_of_order_events_and_a_burst(okx: FakeOkxLiq) -> None:
    rules = OkxRules(lambda: {"BTC-USDT-SWAP": 0.01, "ETH-USDT-SWAP": 0.1})
    async with running(rules, okx) as (stream, got):
        await until(stream, lambda s: s.lives == 1)
        await okx.send_raw('{"arg":{"channel":"liquidation-orders"},"data":[{"instId":')
        await okx.send_raw(json.dumps({"event": "notice", "code": "64008", "msg": "soon"}))
        await okx.send_raw(json.dumps({"arg": {"channel": "liquidation-orders"}, "data": {}}))
        late, early = (
            Liq("BTC-USDT-SWAP", "long", 3, 60_000, NOW),
            Liq("BTC-USDT-SWAP", "short", 1, 60_000, NOW - 5_000),
        )
        await okx.push([late, early])
        await got.wait_count(2)
        assert [e.ts_ms for e in got.events] == [NOW, NOW - 5_000]
        assert stream.stats.malformed == 2 and stream.stats.unknown == 1
        burst = [Liq("ETH-USDT-SWAP", "long", 1, 3_000, NOW + i % 1000) for i in range(20_000)]
        for i in range(0, len(burst), 500):
            await okx.push(burst[i : i + 500])
        await got.wait_count(20_002)
        assert stream.stats.lives == 1  # the burst did not cost the connection
        assert sum(e.usd for e in got.events[2:]) == pytest.approx(20_000 * 300.0)


async def test_okx_subscription_error_backs_off_and_retries(okx: FakeOkxLiq) -> None:
    okx.refuse_subscribe = True
    async with running(OkxRules(lambda: {}), okx) as (stream, _got):
        await until(stream, lambda s: s.sub_errors >= 2)
        assert stream.stats.lives == 0 and not stream.coverage.live
        assert "60018" in (stream.stats.last_error or "")
        okx.refuse_subscribe = False
        await until(stream, lambda s: s.lives == 1)


async def test_cannot_connect_is_retried() -> None:
    fake = FakeOkxLiq()
    await fake.start()
    url = fake.url
    await fake.stop()  # nothing listens there now
    fake.url = url
    async with running(OkxRules(lambda: {}), fake) as (stream, _got):
        await until(stream, lambda s: sum(s.drops.values()) >= 2)
        assert "cannot connect" in (stream.stats.last_error or "")


async def test_an_error_in_handling_a_frame_costs_a_reconnect_not_the_stream(
    okx: FakeOkxLiq,
) -> None:
    rules = OkxRules(lambda: {"BTC-USDT-SWAP": 0.01})
    async with running(rules, okx) as (stream, got):
        await until(stream, lambda s: s.lives == 1)
        stream.on_events = _raise_once(got)
        await okx.push([Liq("BTC-USDT-SWAP", "long", 1, 60_000, NOW)])  # raises
        await until(stream, lambda s: s.lives == 2)
        assert "error (RuntimeError)" in stream.stats.drops
        await okx.push([Liq("BTC-USDT-SWAP", "long", 1, 60_000, NOW)])
        await got.wait_count(1)


def _raise_once(then: Collected) -> Callable[[list[LiqEvent], float], None]:
    calls = []

    def sink(events: list[LiqEvent], received: float) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("a bug")
        then(events, received)

    return sink
