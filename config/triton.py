"""Where Triton is: one host and its three ports, for everything that starts or calls it.

The launcher (`sentiment triton`, `sentiment up`) serves on these ports; `sentiment models`
and `sentiment export` call the HTTP port; the gateway calls the gRPC port. Variables:
`SENTIMENT_TRITON_HOST`, `SENTIMENT_TRITON_HTTP_PORT`, `_GRPC_PORT`, `_METRICS_PORT`.
The addresses of earlier releases (`SENTIMENT_TRITON_URL`, HTTP, and
`SENTIMENT_TRITON_GRPC_URL`, gRPC, both `host:port`) still work for one release.
"""

from __future__ import annotations

import re

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from config.base import EnvironmentSettings, Renamed

_DNS_SCHEME = re.compile(r"^dns:(//[^/]*/)?")


def split_address(value: str) -> tuple[str, str]:
    """`host:port` (an IPv6 host in brackets) as (host, port)."""
    host, colon, port = value.strip().rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not colon or not host or not port.isdigit():
        raise ValueError(f"expected host:port, got {value!r}")
    return host, port


def split_grpc_target(value: str) -> tuple[str, str]:
    """A gRPC target as the gateway accepted it (`host:port`, `dns:///host:port`)."""
    return split_address(_DNS_SCHEME.sub("", value.strip()))


def join_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class TritonSettings(EnvironmentSettings):
    """The Triton server the pipeline commands and the gateway talk to."""

    model_config = SettingsConfigDict(env_prefix="SENTIMENT_TRITON_")

    renamed = (
        Renamed("SENTIMENT_TRITON_URL", ("host", "http_port"), split_address),
        Renamed("SENTIMENT_TRITON_GRPC_URL", ("host", "grpc_port"), split_grpc_target),
    )

    host: str = Field(default="127.0.0.1", min_length=1)
    """Where clients reach Triton (a name that resolves to several replicas spreads the
    gateway's calls over all of them). A started Triton listens on every interface."""

    http_port: int = Field(default=8000, ge=1, le=65535)
    """HTTP/REST port: `sentiment models`, `sentiment export` (model reload), health."""

    grpc_port: int = Field(default=8001, ge=1, le=65535)
    """gRPC port: the gateway's upstream, perf_analyzer."""

    metrics_port: int = Field(default=8002, ge=1, le=65535)
    """Prometheus metrics port."""

    @property
    def http_address(self) -> str:
        """`host:port` of the HTTP endpoint (what tritonclient.http takes)."""
        return join_address(self.host, self.http_port)

    @property
    def grpc_address(self) -> str:
        """`host:port` of the gRPC endpoint (the gateway makes a `dns:///` target of it)."""
        return join_address(self.host, self.grpc_port)

    def on_local_host(self) -> TritonSettings:
        """The same ports on 127.0.0.1: the address of a Triton this process started."""
        return self.model_copy(update={"host": "127.0.0.1"})
