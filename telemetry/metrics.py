"""A Prometheus registry of one component and its HTTP exporter.

Each component (the gateway, the drift job) keeps its metrics on its own registry, so
that several instances can live in one process (the tests run several), and serves them
on its own port.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, start_http_server


class MetricsEndpoint:
    """A component's registry, served over HTTP between `serve()` and `stop()`."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self._http: Any = None

    def serve(self, host: str, port: int) -> int:
        """Start the HTTP exporter in a thread (port 0: a free one); returns the port."""
        self._http, _thread = start_http_server(port, addr=host, registry=self.registry)
        return int(self._http.server_port)

    def stop(self) -> None:
        """Stop the HTTP exporter (if serving)."""
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None
