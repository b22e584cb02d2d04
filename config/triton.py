"""Where Triton is: one host and its three ports, for everything that starts or calls it.

The launcher (`sentiment triton`, `sentiment up`) serves on these ports; `sentiment models`
and `sentiment export` call the HTTP port; the gateway calls the gRPC port. Variables:
`SENTIMENT_TRITON_HOST`, `SENTIMENT_TRITON_HTTP_PORT`, `_GRPC_PORT`, `_METRICS_PORT`;
`_BIND_ADDRESS` (where a started Triton listens) and `_ADMIN_KEY` (the header value that
Triton's model-repository API requires: index, load, unload).
The addresses of earlier releases (`SENTIMENT_TRITON_URL`, HTTP, and
`SENTIMENT_TRITON_GRPC_URL`, gRPC, both `host:port`) still work for one release.
"""

from __future__ import annotations

import ipaddress
import re

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from config.base import EnvironmentSettings, Renamed

_DNS_SCHEME = re.compile(r"^dns:(//[^/]*/)?")
_ADMIN_KEY = re.compile(r"^[A-Za-z0-9_-]{32,}$")
WILDCARD_ADDRESSES = ("0.0.0.0", "::")

ADMIN_HEADER = "sentiment-admin-key"
"""The header Triton's model-repository API (index, load, unload) requires, with the admin
key as its value: `--http-restricted-api=model-repository:<header>=<key>` for HTTP. Over
gRPC Triton prefixes it: the metadata key is `GRPC_ADMIN_HEADER`."""
GRPC_ADMIN_HEADER = f"triton-grpc-protocol-{ADMIN_HEADER}"


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


def local_host(bind_address: str) -> str:
    """Where this machine reaches a server bound to `bind_address`: that address, or
    127.0.0.1 when it listens on every interface."""
    return "127.0.0.1" if bind_address in WILDCARD_ADDRESSES else bind_address


class TritonSettings(EnvironmentSettings):
    """The Triton server the pipeline commands and the gateway talk to."""

    model_config = SettingsConfigDict(env_prefix="SENTIMENT_TRITON_")

    renamed = (
        Renamed("SENTIMENT_TRITON_URL", ("host", "http_port"), split_address),
        Renamed("SENTIMENT_TRITON_GRPC_URL", ("host", "grpc_port"), split_grpc_target),
    )

    host: str = Field(default="127.0.0.1", min_length=1)
    """Where clients reach Triton (a name that resolves to several replicas spreads the
    gateway's calls over all of them)."""

    http_port: int = Field(default=8000, ge=1, le=65535)
    """HTTP/REST port: `sentiment models`, `sentiment export` (model reload), health."""

    grpc_port: int = Field(default=8001, ge=1, le=65535)
    """gRPC port: the gateway's upstream, perf_analyzer."""

    metrics_port: int = Field(default=8002, ge=1, le=65535)
    """Prometheus metrics port."""

    bind_address: str = "127.0.0.1"
    """The address a Triton started by `sentiment triton`/`up` listens on, for HTTP, gRPC
    and metrics: loopback only unless set (`0.0.0.0`: every interface)."""

    admin_key: SecretStr | None = None
    """The value of the `sentiment-admin-key` header that Triton's model-repository API
    (index, load, unload) requires; at least 32 letters, digits, `-` or `_`. Unset: a
    started Triton uses the key in `<state dir>/triton-admin-key` (made once, mode 0600),
    which local commands read too."""

    @field_validator("bind_address")
    @classmethod
    def _an_ip_address(cls, value: str) -> str:
        try:
            return str(ipaddress.ip_address(value.strip()))
        except ValueError:
            raise ValueError(f"{value!r} is not an IP address") from None

    @field_validator("admin_key", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # compose passes `${SENTIMENT_TRITON_ADMIN_KEY:-}`: an empty variable is no key
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("admin_key")
    @classmethod
    def _a_header_value(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not _ADMIN_KEY.match(value.get_secret_value()):
            # The key travels in Triton's command line (`...:<header>=<key>`) and in a
            # header: no separators, no spaces, long enough not to be guessed.
            raise ValueError("use at least 32 letters, digits, '-' or '_'")
        return value

    @property
    def http_address(self) -> str:
        """`host:port` of the HTTP endpoint (what tritonclient.http takes)."""
        return join_address(self.host, self.http_port)

    @property
    def grpc_address(self) -> str:
        """`host:port` of the gRPC endpoint (the gateway makes a `dns:///` target of it)."""
        return join_address(self.host, self.grpc_port)

    def on_local_host(self) -> TritonSettings:
        """The same ports where this machine reaches a Triton it started (`local_host`)."""
        return self.model_copy(update={"host": local_host(self.bind_address)})
