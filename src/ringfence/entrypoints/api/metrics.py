"""``/metrics`` in the Prometheus text format: how the API is used and how the pools stand.

- ``ringfence_api_request_seconds{route,method}``: latency histogram, by route template (never
  by a concrete path, which would carry ids);
- ``ringfence_api_results_total{route,code}``: per transfer or definition result and per
  problem, by its code (``ok``, ``exceeds_available_balance``, ``api_key_invalid``, ...);
- ``ringfence_pool_coverage_ratio{pool,asset}``: holdings over client liabilities of each pool
  and asset that owes anything, read from the ledger at scrape time.

Each app has its own registry (no process-wide globals), so tests and two apps in one process
never mix their counts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

# Upper bounds in seconds: a balance read should land under 10 ms, a full bulk request in
# well under a second.
latency_buckets_s = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)

CoverageReader = Callable[[], list[tuple[str, str, float]]]


class _Coverage(Collector):
    def __init__(self, read: CoverageReader) -> None:
        self.read = read

    def collect(self) -> Iterator[GaugeMetricFamily]:
        gauge = GaugeMetricFamily(
            "ringfence_pool_coverage_ratio",
            "Pool holdings over client liabilities, per pool and asset (below 1: short).",
            labels=["pool", "asset"],
        )
        for pool, asset, ratio in self.read():
            gauge.add_metric([pool, asset], ratio)
        yield gauge


class ApiMetrics:
    def __init__(self, coverage: CoverageReader) -> None:
        self.registry = CollectorRegistry()
        self.latency = Histogram(
            "ringfence_api_request_seconds",
            "Time to answer a request, by route template and method.",
            ["route", "method"],
            buckets=latency_buckets_s,
            registry=self.registry,
        )
        self.results = Counter(
            "ringfence_api_results",
            "Results and problems by route and code.",
            ["route", "code"],
            registry=self.registry,
        )
        self.registry.register(_Coverage(coverage))

    def count(self, route: str, code: str, times: int = 1) -> None:
        self.results.labels(route, code).inc(times)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
