"""Prometheus metrics of the liquidation streams, read from the runner at each scrape
(a custom collector: nothing is counted twice, nothing runs between scrapes)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from bot.liquidations.runner import LiqRunner


class LiqCollector(Collector):
    def __init__(self, runner: LiqRunner) -> None:
        self.runner = runner

    def collect(self) -> Iterator[Metric]:
        live = GaugeMetricFamily(
            "pressurebot_liquidation_stream_live",
            "1 while this replica holds the venue's liquidation stream and it is live",
            labels=["venue"],
        )
        events = CounterMetricFamily(
            "pressurebot_liquidation_events",
            "Liquidation events received in this holder's current term",
            labels=["venue"],
        )
        drops = CounterMetricFamily(
            "pressurebot_liquidation_stream_drops",
            "Connections of the venue's liquidation stream that ended, this term",
            labels=["venue"],
        )
        odd = CounterMetricFamily(
            "pressurebot_liquidation_frames_rejected",
            "Malformed or unknown frames, this term",
            labels=["venue"],
        )
        holding = self.runner.holding.is_set()
        for stream in self.runner.streams:
            v = [stream.venue]
            live.add_metric(v, 1.0 if holding and stream.live else 0.0)
            events.add_metric(v, stream.stats.events)
            drops.add_metric(v, sum(stream.stats.drops.values()))
            odd.add_metric(v, stream.stats.malformed + stream.stats.unknown)
        yield from (live, events, drops, odd)
