"""Prometheus metrics, and the ASGI middleware that counts requests by route and status.

Each app gets its own registry, so several apps (tests) can live in one process. Labels
never carry user data: routes are the fixed paths the app serves, anything else is "other".
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:
    from collector.pipeline import Outcome

CONTENT_TYPE = CONTENT_TYPE_LATEST

# The *_created series double the output and no dashboard uses them.
disable_created_metrics()  # type: ignore[no-untyped-call]


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._series: dict[tuple[Counter, tuple[str, ...]], Counter] = {}
        self.requests = Counter(
            "collector_http_requests",
            "HTTP requests answered, by route and status code.",
            ["route", "status"],
            registry=self.registry,
        )
        self.records_produced = Counter(
            "collector_records_produced",
            "Records acknowledged by Kafka (then answered with 2xx), by topic.",
            ["topic"],
            registry=self.registry,
        )
        self.records_failed = Counter(
            "collector_records_failed",
            "Records answered with 503 because Kafka did not take them, by topic and reason.",
            ["topic", "reason"],
            registry=self.registry,
        )
        self.events_rejected = Counter(
            "collector_events_rejected",
            "Events refused by the pipeline and sent to the DLQ, by reason.",
            ["reason"],
            registry=self.registry,
        )
        self.bot_events = Counter(
            "collector_bot_events",
            "Events flagged as bots, by reason; routed to the bots topic or dropped by policy.",
            ["reason"],
            registry=self.registry,
        )
        self.bot_events_dropped = Counter(
            "collector_bot_events_dropped",
            "Bot events not produced because the bot policy is 'drop'.",
            registry=self.registry,
        )
        self.hot_key_salted = Counter(
            "collector_hot_key_salted_events",
            "Events whose key was over its rate budget and got salted into a sub-key.",
            registry=self.registry,
        )
        self.rate_limited = Counter(
            "collector_rate_limited_events",
            "Events refused with 429 because their write key was over its quota, by key name.",
            ["key"],
            registry=self.registry,
        )
        self.producer_queue = Gauge(
            "collector_producer_queue_messages",
            "Messages and delivery reports waiting in librdkafka's queue.",
            registry=self.registry,
        )
        self.delivery_seconds = Histogram(
            "collector_delivery_seconds",
            "Time from handing a request's events to librdkafka to the last delivery report.",
            buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=self.registry,
        )

    def series(self, metric: Counter, *labels: str) -> Counter:
        """`metric.labels(*labels)`, kept: labels() takes a lock and builds its key on every
        call, per request. Label values come from fixed sets (routes, statuses, configured
        topics, reasons), so this stays small."""
        found = self._series.get((metric, labels))
        if found is None:
            found = self._series[metric, labels] = metric.labels(*labels)
        return found

    def count_outcome(self, outcome: Outcome) -> None:
        for rejection in outcome.rejected:
            self.series(self.events_rejected, rejection.reason).inc()
        for reason, count in outcome.bots.items():
            self.series(self.bot_events, reason).inc(count)
        if outcome.bots_dropped:
            self.bot_events_dropped.inc(outcome.bots_dropped)
        if outcome.salted:
            self.hot_key_salted.inc(outcome.salted)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class RequestMetrics:
    """Counts every HTTP response by route and status."""

    def __init__(self, app: ASGIApp, metrics: Metrics, routes: Collection[str]) -> None:
        self.app = app
        self.metrics = metrics
        self.routes = frozenset(routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        route = path if path in self.routes else "other"
        status = 500

        async def send_and_count(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_count)
        finally:
            self.metrics.series(self.metrics.requests, route, str(status)).inc()
