"""Prometheus metrics, on a registry of our own (no global state between instances)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from bot.scoring.result import CycleResult


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.cycle_seconds = Histogram(
            "pressurebot_cycle_duration_seconds",
            "Wall time of one scoring cycle",
            buckets=(0.5, 1, 2, 4, 8, 15, 30, 60, 120),
            registry=r,
        )
        self.cycles = Counter(
            "pressurebot_cycles_total", "Scoring cycles by status", ["status"], registry=r
        )
        self.symbols_fetched = Gauge(
            "pressurebot_symbols_fetched", "Symbols scored in the last cycle", registry=r
        )
        self.symbols_failed = Gauge(
            "pressurebot_symbols_failed", "Symbols that failed in the last cycle", registry=r
        )
        self.exchange_weight = Gauge(
            "pressurebot_exchange_weight_used", "Request weight used by the last cycle", registry=r
        )
        self.history_calls = Counter(
            "pressurebot_history_calls_total", "openInterestHist calls", registry=r
        )
        self.alerts = Counter("pressurebot_alert_events_total", "Alert events emitted", registry=r)
        self.last_cycle_ts = Gauge(
            "pressurebot_last_cycle_timestamp_seconds", "End of the last good cycle", registry=r
        )
        self.deliveries = Gauge(
            "pressurebot_deliveries", "Outbox rows by status", ["status"], registry=r
        )
        self.deliveries_stale = Counter(
            "pressurebot_deliveries_dropped_stale",
            "Deliveries dropped unsent because older than [telegram] delivery_expiry_hours",
            registry=r,
        )
        self.send_seconds = Histogram(
            "pressurebot_send_latency_seconds",
            "Telegram send latency",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10),
            registry=r,
        )

    def observe_cycle(self, result: CycleResult) -> None:
        self.cycle_seconds.observe((result.finished_ms - result.started_ms) / 1000)
        self.cycles.labels(result.status).inc()
        self.symbols_fetched.set(result.symbols_fetched)
        self.symbols_failed.set(len(result.failed))
        self.exchange_weight.set(result.weight_used)
        self.history_calls.inc(result.history_calls)
        self.alerts.inc(result.events_created)
        self.last_cycle_ts.set(result.finished_ms / 1000)

    def observe_failed_cycle(self) -> None:
        self.cycles.labels("failed").inc()
