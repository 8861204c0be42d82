"""What operators scrape: a service's metrics, in Prometheus's text format, at ``/metrics``.

Each runtime has a registry of its own (several runtimes share a test process). Requests are
timed as they are answered; everything else is read from the runtime's workers when scraped.
Labels name routes by their template, topics and consumer groups: never a case id, a name or
an agency of a child, so nothing in a scrape is personal data.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.consumer import EventConsumer
from shared.erasure import KeyShredder
from shared.outbox import OutboxRelay

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

    from shared.runtime import ServiceRuntime

# A request no route took (refused before routing, or a path no route has) is counted under
# this name: its path may hold anything, a case id included.
UNROUTED = "unrouted"
# Any other method a client makes up would be a new series each: counted as one.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class ServiceMetrics:
    """One service's registry: the request histogram, and the runtime's workers read live."""

    def __init__(self, runtime: ServiceRuntime) -> None:
        self.registry = CollectorRegistry()
        self.requests = Histogram(
            "homeward_http_request_duration_seconds",
            "Time to answer an HTTP request, by method, route template and status class.",
            ["method", "route", "status_class"],
            registry=self.registry,
        )
        self.registry.register(RuntimeCollector(runtime))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class RequestMetrics:
    """ASGI middleware timing every request into the histogram, the route by its template."""

    def __init__(self, app: ASGIApp, histogram: Histogram) -> None:
        self.app = app
        self.histogram = histogram

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status_code = 500  # what the client gets when an error escapes before any answer

        async def noting_status(message: Message) -> None:
            nonlocal status_code
            if message["type"] == "http.response.start":
                status_code = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, noting_status)
        finally:
            # The router puts the matched route into the scope it was given: this one.
            route = getattr(scope.get("route"), "path", UNROUTED)
            method = scope["method"] if scope["method"] in METHODS else "other"
            self.histogram.labels(method, route, f"{status_code // 100}xx").observe(
                time.perf_counter() - started
            )


class RuntimeCollector(Collector):
    """The relays, consumers and erasures of a runtime, as they are when scraped."""

    def __init__(self, runtime: ServiceRuntime) -> None:
        self.runtime = runtime

    def collect(self) -> Iterator[Metric]:
        yield from relay_metrics(self.runtime.relays)
        yield from consumer_metrics(self.runtime.consumers)
        shredders = [job for job in self.runtime.jobs if isinstance(job, KeyShredder)]
        if shredders:
            yield GaugeMetricFamily(
                "homeward_erasures_pending",
                "Cases whose CaseErased is recorded and whose data key is not destroyed yet.",
                value=sum(shredder.pending_count() for shredder in shredders),
            )


def relay_metrics(relays: list[OutboxRelay]) -> Iterator[Metric]:
    labels = ["topic"]
    waiting = GaugeMetricFamily(
        "homeward_relay_waiting_events", "Recorded events not yet published.", labels=labels
    )
    position = GaugeMetricFamily(
        "homeward_relay_position", "The last notification id known to be published.", labels=labels
    )
    errors = CounterMetricFamily(
        "homeward_relay_errors", "Relay rounds that failed and were retried.", labels=labels
    )
    stuck = GaugeMetricFamily(
        "homeward_relay_stuck",
        "1 while the relay holds at an event it cannot decode.",
        labels=labels,
    )
    holds_lease = GaugeMetricFamily(
        "homeward_relay_holds_lease",
        "1 if this instance's relay publishes (holds the lease).",
        labels=labels,
    )
    for relay in relays:
        topic = [relay.topic]
        # Both read the database, which may be down: /healthz says so; the scrape goes on.
        with contextlib.suppress(Exception):
            published, behind = relay.position, relay.lag()
            waiting.add_metric(topic, behind)
            position.add_metric(topic, published)
        errors.add_metric(topic, relay.failed_rounds)
        stuck.add_metric(topic, int(relay.stuck is not None))
        holds_lease.add_metric(topic, int(relay.lease.held))
    yield from (waiting, position, errors, stuck, holds_lease)


def consumer_metrics(consumers: list[EventConsumer]) -> Iterator[Metric]:
    lag = GaugeMetricFamily(
        "homeward_consumer_lag_messages",
        "Messages on a topic not yet processed by the group, as the consumer's last poll saw.",
        labels=["group", "topic"],
    )
    applied = CounterMetricFamily(
        "homeward_consumer_applied", "Messages applied.", labels=["group", "topic"]
    )
    duplicates = CounterMetricFamily(
        "homeward_consumer_duplicates",
        "Messages skipped, their id already in the inbox.",
        labels=["group", "topic"],
    )
    parked = CounterMetricFamily(
        "homeward_consumer_dead_lettered",
        "Messages parked on the dead-letter topic, by class of reason.",
        labels=["group", "topic", "reason"],
    )
    retries = CounterMetricFamily(
        "homeward_consumer_retries",
        "Failed attempts, at a message or a poll, that were retried.",
        labels=["group"],
    )
    last_error = GaugeMetricFamily(
        "homeward_consumer_last_error", "1 while the consumer's attempts fail.", labels=["group"]
    )
    running = GaugeMetricFamily(
        "homeward_consumer_running", "1 while the consumer's loop runs.", labels=["group"]
    )
    for consumer in consumers:
        group = consumer.name
        for topic, behind in consumer.lag.items():  # replaced whole by each poll, never changed
            lag.add_metric([group, topic], behind)
        # Copies (made in one step): the consumer's thread may add a key meanwhile.
        for topic, count in dict(consumer.applied).items():
            applied.add_metric([group, topic], count)
        for topic, count in dict(consumer.duplicates).items():
            duplicates.add_metric([group, topic], count)
        for (topic, because), count in dict(consumer.parked).items():
            parked.add_metric([group, topic, because], count)
        retries.add_metric([group], consumer.retried_messages + consumer.failed_rounds)
        last_error.add_metric([group], int(consumer.last_error is not None))
        running.add_metric([group], int(consumer.running))
    yield from (lag, applied, duplicates, parked, retries, last_error, running)
