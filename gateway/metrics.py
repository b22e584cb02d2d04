"""Prometheus metrics of the gateway, on their own registry and port."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from telemetry.metrics import MetricsEndpoint

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class MethodMetrics:
    """One RPC method's request counter and latency histogram children, bound once.

    `labels()` hashes and locks on every call; the request path uses these instead.
    """

    def __init__(self, metrics: GatewayMetrics, method: str) -> None:
        self._metrics = metrics
        self._method = method
        self._ok = metrics.requests.labels(method, grpc.StatusCode.OK.name)
        self._latency = metrics.latency.labels(method)

    def ok(self, started: float) -> None:
        """Count a call that ended OK (`started`: its time.perf_counter() start)."""
        self._ok.inc()
        self._latency.observe(time.perf_counter() - started)

    def failed(self, code: grpc.StatusCode, reason: str | None, started: float) -> None:
        """Count a call that ended with `code`; `reason` also counts it as a rejection."""
        self._metrics.requests.labels(self._method, code.name).inc()
        self._latency.observe(time.perf_counter() - started)
        if reason is not None:
            self._metrics.rejections.labels(reason).inc()


@dataclass(frozen=True)
class PersistenceReadings:
    """What the persistence layer exposes to metrics, each read at scrape time."""

    key_table_age: Callable[[], float]
    key_refresh_failures: Callable[[], float]
    keys_from_snapshot: Callable[[], float]
    spool_depth: Callable[[], float]
    spool_bytes: Callable[[], float]
    spool_max_bytes: Callable[[], float]
    write_lag: Callable[[], float]
    audit_dead_lettered: Callable[[], float]
    audit_quarantined: Callable[[], float]
    audit_write_errors: Callable[[], float]
    audit_file_errors: Callable[[], float]
    audit_orphan_records: Callable[[], float]
    drift_dropped: Callable[[], float]
    drift_outages: Callable[[], float]


PERSISTENCE_COUNTERS = (
    (
        "sentiment_gateway_key_refresh_failures",
        "Loads of the API key table that failed (database unreachable, hung or refusing)",
        "key_refresh_failures",
    ),
    (
        "sentiment_gateway_audit_dead_lettered",
        "Audit records the database refused as invalid, kept in the dead-letter file",
        "audit_dead_lettered",
    ),
    (
        "sentiment_gateway_audit_quarantined",
        "Corrupt audit spool frames (about one record each) moved to quarantine/",
        "audit_quarantined",
    ),
    (
        "sentiment_gateway_audit_write_errors",
        "Failed audit writes to the database (each is retried)",
        "audit_write_errors",
    ),
    (
        "sentiment_gateway_audit_file_errors",
        "Failed audit checkpoint, dead-letter or lease writes (each is retried)",
        "audit_file_errors",
    ),
    (
        "sentiment_gateway_audit_orphan_records",
        "Audit records drained from the spools of gateway instances that are gone",
        "audit_orphan_records",
    ),
    (
        "sentiment_gateway_drift_samples_dropped",
        "Drift samples dropped (queue full, or refused by the database as invalid)",
        "drift_dropped",
    ),
    (
        "sentiment_gateway_drift_database_outages",
        "Times the drift writer's circuit breaker opened (database unreachable)",
        "drift_outages",
    ),
)
"""(name, help, PersistenceReadings field) of the counters read at scrape time."""


class CallbackCounters(Collector):
    """Counters kept by other objects (the audit log, the drift sink), read at scrape time."""

    def __init__(self) -> None:
        self._sources: dict[str, tuple[str, Callable[[], float]]] = {}

    def watch(self, name: str, documentation: str, read: Callable[[], float]) -> None:
        self._sources[name] = (documentation, read)

    def collect(self) -> Any:
        for name, (documentation, read) in list(self._sources.items()):
            yield CounterMetricFamily(name, documentation, value=read())


class GatewayMetrics(MetricsEndpoint):
    """The gateway's metrics; one instance per server (tests run several)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        super().__init__(registry)
        r = self.registry
        self.requests = Counter(
            "sentiment_gateway_requests",
            "RPCs by method and status",
            ["method", "code"],
            registry=r,
        )
        self.latency = Histogram(
            "sentiment_gateway_request_seconds",
            "RPC latency (whole call)",
            ["method"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.triton_latency = Histogram(
            "sentiment_gateway_triton_seconds",
            "Triton inference call latency",
            ["model"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.in_flight = Gauge(
            "sentiment_gateway_in_flight", "Requests being processed", registry=r
        )
        self.rejections = Counter(
            "sentiment_gateway_rejections",
            "Requests refused, by reason",
            ["reason"],
            registry=r,
        )
        self.drift_samples = Counter(
            "sentiment_gateway_drift_samples", "Predictions sampled for drift", registry=r
        )
        self.audit_spool_depth = Gauge(
            "sentiment_gateway_audit_spool_depth",
            "Audit records not yet in the database",
            registry=r,
        )
        self.audit_spool_bytes = Gauge(
            "sentiment_gateway_audit_spool_bytes",
            "Bytes of this instance's audit spool on disk and queued for it",
            registry=r,
        )
        self.audit_spool_max_bytes = Gauge(
            "sentiment_gateway_audit_spool_max_bytes",
            "Bound on the audit spool's bytes (SENTIMENT_AUDIT_SPOOL_MAX_BYTES)",
            registry=r,
        )
        self.audit_write_lag = Gauge(
            "sentiment_gateway_audit_write_lag_seconds",
            "Age of the oldest audit record not yet in the database",
            registry=r,
        )
        self.key_table_age = Gauge(
            "sentiment_gateway_key_table_age_seconds",
            "Seconds since the database last confirmed the API key table in use",
            registry=r,
        )
        self.keys_from_snapshot = Gauge(
            "sentiment_gateway_keys_from_snapshot",
            "1 while keys are checked against the local snapshot (no database load yet)",
            registry=r,
        )
        self.version_calls = Counter(
            "sentiment_gateway_version_calls",
            "Upstream calls by model version and outcome (ok, error)",
            ["model", "version", "outcome"],
            registry=r,
        )
        self.version_seconds = Histogram(
            "sentiment_gateway_version_seconds",
            "Triton call latency by model version",
            ["model", "version"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.shadow_calls = Counter(
            "sentiment_gateway_shadow_calls",
            "Shadow copies to the candidate by outcome (agree, disagree, error, dropped)",
            ["model", "version", "outcome"],
            registry=r,
        )
        self.rollout_candidate_share = Gauge(
            "sentiment_gateway_rollout_candidate_share",
            "Configured share of calls (0..1) the rollout's candidate answers",
            ["model"],
            registry=r,
        )
        self.rollout_info = Gauge(
            "sentiment_gateway_rollout_info",
            "1 for the rollout state this replica routes by",
            ["model", "served_version", "candidate_version", "mode"],
            registry=r,
        )
        self.guardrail_rollbacks = Counter(
            "sentiment_gateway_rollout_guardrail_rollbacks",
            "Rollouts the guardrail rolled back by itself",
            ["model"],
            registry=r,
        )
        self.persistence_counters = CallbackCounters()
        r.register(self.persistence_counters)

    def version_call(self, model: str, version: str, ok: bool, seconds: float) -> None:
        """One upstream call answered (or failed) by `version` of `model`."""
        self.version_calls.labels(model, version or "-", "ok" if ok else "error").inc()
        if ok:
            self.version_seconds.labels(model, version or "-").observe(seconds)

    def rollout_state(
        self, models: Sequence[str], served: str, candidate: str, mode: str, share: float
    ) -> None:
        """The rollout state routed by now (replaces the previous one)."""
        self.rollout_info.clear()
        for model in models:
            self.rollout_info.labels(model, served, candidate, mode).set(1)
            self.rollout_candidate_share.labels(model).set(share)
            self.guardrail_rollbacks.labels(model)  # exported from 0, not from the first

    def for_method(self, method: str) -> MethodMetrics:
        """Pre-bound request metrics of one RPC method."""
        return MethodMetrics(self, method)

    def triton_observer(self) -> Callable[[str, float], None]:
        """`observe(model, seconds)` for Triton call latency, children bound per model."""
        children: dict[str, Any] = {}

        def observe(model: str, seconds: float) -> None:
            child = children.get(model)
            if child is None:
                child = children[model] = self.triton_latency.labels(model)
            child.observe(seconds)

        return observe

    def watch_persistence(self, readings: PersistenceReadings) -> None:
        """Read the audit log's, drift sink's and key store's state and counters at scrape
        time."""
        self.key_table_age.set_function(readings.key_table_age)
        self.keys_from_snapshot.set_function(readings.keys_from_snapshot)
        self.audit_spool_depth.set_function(readings.spool_depth)
        self.audit_spool_bytes.set_function(readings.spool_bytes)
        self.audit_spool_max_bytes.set_function(readings.spool_max_bytes)
        self.audit_write_lag.set_function(readings.write_lag)
        for name, documentation, field in PERSISTENCE_COUNTERS:
            self.persistence_counters.watch(name, documentation, getattr(readings, field))
