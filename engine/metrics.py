"""Prometheus metrics (prometheus-client), safe across processes.

Set PROMETHEUS_MULTIPROC_DIR (an empty, writable folder shared by the web processes and the
`flowmate worker` processes on one machine) BEFORE the processes start: every process then
writes its samples to files there and ``GET /metrics`` adds them all up
(``MultiProcessCollector``). Without it, metrics are per process (fine for the embedded mode,
where the web app runs the workers itself).

Queue depth and worker liveness are not counters that processes increment: they are read
at scrape time by :class:`LiveCollector`, so they are never stale. This module only holds
instruments: the collector gets its reader callables from whoever registers it (the web app's
``/metrics`` route passes ``engine.queue.queue_depth`` and ``engine.liveness.live_workers``), so
it never imports the queue or the runtime.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

RUNS_CREATED = Counter("flowmate_runs_created", "Runs written to the queue, by trigger type", ["trigger"])
RUNS_STARTED = Counter("flowmate_runs_started", "Runs a worker started executing (first attempt)", ["trigger"])
RUNS_FINISHED = Counter("flowmate_runs_finished", "Runs that reached a final state, by status", ["status"])
STEP_DURATION = Histogram(
    "flowmate_step_duration_seconds", "Time spent in one step attempt, by action and outcome",
    ["action", "status"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
WEBHOOK_REQUESTS = Counter(
    "flowmate_webhook_requests", "Webhook intake requests, by outcome "
    "(accepted, replayed, unauthorized, not_found, too_large, rate_limited, quota_exceeded, conflict, ...)",
    ["outcome"],
)
WEBHOOK_LATENCY = Histogram(
    "flowmate_webhook_seconds", "Webhook intake handling time (body read, run written, queued)",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)


def record_step(action: str, status: str, seconds: float) -> None:
    """Never let metrics break execution."""
    with contextlib.suppress(Exception):  # a broken metrics dir must not fail a run
        STEP_DURATION.labels(action=action, status=status).observe(max(0.0, seconds))


def safe_inc(counter: Counter, **labels: str) -> None:
    with contextlib.suppress(Exception):
        counter.labels(**labels).inc()


class LiveCollector(Collector):
    """Queue depth and live workers, asked of the readers passed in when Prometheus scrapes."""

    def __init__(self, queue_depth: Callable[[], int | None], workers_alive: Callable[[], int]) -> None:
        self.queue_depth = queue_depth
        self.workers_alive = workers_alive

    def collect(self) -> Iterator[Any]:
        try:
            depth = self.queue_depth()
        except Exception:
            depth = None
        gauge = GaugeMetricFamily("flowmate_queue_depth", "Run messages waiting in the queue")
        gauge.add_metric([], float(depth if depth is not None else -1))
        yield gauge
        workers = GaugeMetricFamily("flowmate_workers_alive", "Worker processes with a recent heartbeat")
        try:
            workers.add_metric([], float(self.workers_alive()))
        except Exception:
            workers.add_metric([], -1.0)
        yield workers


def render(*live: Collector) -> tuple[bytes, str]:
    """The exposition text for ``GET /metrics`` and its content type; ``live`` collectors
    (a :class:`LiveCollector` with its readers) are added to this scrape."""
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess  # only in multi-process deployments

        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_Proxy(REGISTRY))
    for collector in live:
        registry.register(collector)
    return generate_latest(registry), CONTENT_TYPE_LATEST


class _Proxy(Collector):
    """Expose the default registry (this process's metrics) through a scrape-local registry."""

    def __init__(self, source: Any) -> None:
        self.source = source

    def collect(self) -> Iterator[Any]:
        yield from self.source.collect()
