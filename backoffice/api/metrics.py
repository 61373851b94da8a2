"""`GET /metrics` in Prometheus text format: requests by route template and status, their
latency, commands by outcome, and how many approvals wait. Labels are route templates and
command names, never an account, a key or a user: nothing here is client data, and the
series stay few however much traffic there is.

With several worker processes (`serve --workers N` on PostgreSQL) each process counts in the
files of `$PROMETHEUS_MULTIPROC_DIR` (set by `serve`) and a scrape adds them up, whichever
worker answers."""

from __future__ import annotations

import os
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from backoffice.store.engine import Store

approvals_counted_max = 100_000  # the gauge counts this far and no further
MEDIA_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Seconds: a single entry should answer in milliseconds; a batch or a file in seconds.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class ApprovalQueue(Collector):
    """The approvals waiting, read from the store at scrape time (not a per-process count)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from backoffice.admin.approval_service import awaiting_count

        gauge = GaugeMetricFamily(
            "backoffice_approvals_awaiting", "Approvals waiting for a decision"
        )
        gauge.add_metric([], awaiting_count(self.store, approvals_counted_max))
        yield gauge


class Metrics:
    """One application's series, in a registry of its own (two apps in one process, as in
    tests, never mix their counts)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "backoffice_http_requests", "HTTP requests answered",
            ["method", "route", "status"], registry=self.registry,
        )  # fmt: skip
        self.latency = Histogram(
            "backoffice_http_request_duration_seconds", "Time to answer a request",
            ["method", "route"], buckets=LATENCY_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.commands = Counter(
            "backoffice_commands", "Commands run through the API, by outcome",
            ["command", "outcome"], registry=self.registry,
        )  # fmt: skip

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)

    def command_ran(self, command: str, outcome: str) -> None:
        self.commands.labels(command, outcome).inc()

    def exposition(self) -> bytes:
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        else:
            registry = self.registry
        scrape = CollectorRegistry()
        scrape.register(ApprovalQueue(self.store))
        return generate_latest(registry) + generate_latest(scrape)
