"""Prometheus metrics of the gateway, on their own registry and port."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class GatewayMetrics:
    """The gateway's metrics; one instance per server (tests run several)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
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
        self.audit_write_lag = Gauge(
            "sentiment_gateway_audit_write_lag_seconds",
            "Age of the oldest audit record not yet in the database",
            registry=r,
        )

    def watch_audit(
        self, depth: Callable[[], float] | None, lag: Callable[[], float] | None
    ) -> None:
        """Read spool depth and write lag from the audit log at scrape time."""
        if depth is not None:
            self.audit_spool_depth.set_function(depth)
        if lag is not None:
            self.audit_write_lag.set_function(lag)

    def serve(self, host: str, port: int) -> int:
        """Start the HTTP exporter in a thread; returns the bound port."""
        self._http: Any
        self._http, _thread = start_http_server(port, addr=host, registry=self.registry)
        return int(self._http.server_port)

    def stop(self) -> None:
        """Stop the HTTP exporter (if serving)."""
        http = getattr(self, "_http", None)
        if http is not None:
            http.shutdown()
            http.server_close()
            self._http = None
