"""Typed settings of the gRPC gateway (`sentiment gateway`).

Every field is read from the environment with the ``SENTIMENT_`` prefix, e.g.
``SENTIMENT_GATEWAY_PORT`` or ``SENTIMENT_DRIFT_SAMPLE_RATE``. `load_settings()` turns a
missing or invalid value into a `ConfigurationError` naming the variable, so start-up
stops with a readable message instead of a traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from gateway.core.errors import ConfigurationError

ENV_PREFIX = "SENTIMENT_"
CERT, KEY = f"{ENV_PREFIX}TLS_CERT_FILE", f"{ENV_PREFIX}TLS_KEY_FILE"


class GatewaySettings(BaseSettings):
    """Ports, upstream Triton, request limits and security of the gateway.

    Persistence (database, audit spool, keys, drift sample rate) is configured by
    `store.settings.PersistenceSettings`, under the same prefix.
    """

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    gateway_host: str = "0.0.0.0"
    """Address the gRPC server binds to."""

    gateway_port: int = Field(50051, ge=0, le=65535)
    """gRPC port of the gateway (0 picks a free port)."""

    gateway_metrics_port: int = Field(9102, ge=0, le=65535)
    """Prometheus metrics port of the gateway (0 picks a free port)."""

    triton_grpc_url: str = "127.0.0.1:8001"
    """Triton's gRPC address (host:port)."""

    models: list[str] = Field(default_factory=lambda: ["sentiment"], min_length=1)
    """Triton models a request may select (JSON list); the first is the default."""

    labels: list[str] = Field(default_factory=lambda: ["negative", "positive"], min_length=2)
    """Class names in the order of the model's PROBABILITIES output."""

    tokenizer_dir: Path | None = None
    """Folder with the served model's `tokenizer.json` (and `../pipeline.json`); default:
    the newest `sentiment_tokenizer` version in the pipeline's model repository."""

    max_text_chars: int = Field(2000, ge=1)
    """Longest text accepted, in characters."""

    max_tokens: int | None = Field(None, ge=2)
    """Most word pieces per text (special tokens included); default the model's max_length."""

    max_batch_texts: int = Field(64, ge=1)
    """Most texts in one PredictBatch call."""

    max_message_bytes: int = Field(1_048_576, ge=1024)
    """Largest request message; larger ones get RESOURCE_EXHAUSTED."""

    rate_limit_per_second: float = Field(200.0, gt=0)
    """Texts per second each API key may send on average (token bucket refill rate)."""

    rate_limit_burst: int = Field(400, ge=1)
    """Texts an API key may send at once (token bucket size)."""

    max_in_flight: int = Field(128, ge=1)
    """Requests processed at once; more are shed with RESOURCE_EXHAUSTED."""

    default_timeout_seconds: float = Field(10.0, gt=0)
    """Deadline used when a caller sends none."""

    triton_deadline_margin_seconds: float = Field(0.02, ge=0)
    """Time kept back from the caller's deadline for the gateway's own work."""

    triton_retries: int = Field(3, ge=0)
    """Retries of a Triton call that failed with UNAVAILABLE (within the deadline)."""

    triton_retry_backoff_seconds: float = Field(0.05, gt=0)
    """First retry delay; doubles on each retry."""

    model_info_ttl_seconds: float = Field(30.0, gt=0)
    """How long the model version and MLflow run id read from Triton are cached."""

    tls_cert_file: Path | None = None
    """Server certificate (PEM); set with tls_key_file to serve TLS."""

    tls_key_file: Path | None = None
    """Server private key (PEM)."""

    tls_client_ca_file: Path | None = None
    """CA bundle (PEM) for client certificates; set to require mTLS."""

    reflection: bool = False
    """Serve gRPC server reflection."""

    drain_seconds: float = Field(20.0, ge=0)
    """On SIGTERM, how long in-flight calls may take to finish."""

    health_poll_seconds: float = Field(1.0, gt=0)
    """How often Triton readiness and the audit path are checked for health."""

    log_level: str = "INFO"
    """Python logging level of the gateway."""

    @model_validator(mode="after")
    def _check_tls(self) -> GatewaySettings:
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError(
                "SENTIMENT_TLS_CERT_FILE and SENTIMENT_TLS_KEY_FILE must be set together"
            )
        if self.tls_client_ca_file is not None and self.tls_cert_file is None:
            raise ValueError(f"{ENV_PREFIX}TLS_CLIENT_CA_FILE (mTLS) needs {CERT} and {KEY}")
        for name in ("tls_cert_file", "tls_key_file", "tls_client_ca_file"):
            path = getattr(self, name)
            if path is not None and not path.is_file():
                raise ValueError(f"{ENV_PREFIX}{name.upper()}: no such file {path}")
        return self

    @property
    def default_model(self) -> str:
        return self.models[0]


def _variable(location: tuple[Any, ...]) -> str:
    return ENV_PREFIX + str(location[0]).upper() if location else "SENTIMENT_* settings"


def load_settings(**overrides: Any) -> GatewaySettings:
    """Read the settings; a missing or invalid one raises ConfigurationError naming it."""
    try:
        return GatewaySettings(**overrides)
    except ValidationError as err:
        problems = "; ".join(f"{_variable(e['loc'])}: {e['msg']}" for e in err.errors())
        raise ConfigurationError(f"invalid gateway settings: {problems}") from None
