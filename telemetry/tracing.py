"""OpenTelemetry traces of a component, configured only by the standard `OTEL_*` variables.

Tracing is off unless `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or `OTEL_EXPORTER_OTLP_ENDPOINT`
is set: then every helper here returns at once (one module-global check, no allocation),
so code can be instrumented unconditionally. `start_tracing()` turns it on for the process
(one tracer provider, a batch span processor, spans POSTed as OTLP/HTTP protobuf) and
returns the handle whose `shutdown()` flushes what is queued.

Context crosses process boundaries as a W3C `traceparent`: `server_span()` continues the
one a caller sent in its gRPC metadata, `inject()` gives the one to send upstream. Per-call
state is OpenTelemetry's context (a context variable), so it follows asyncio tasks.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import urllib.parse
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

from opentelemetry import trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    ALWAYS_ON,
    ParentBased,
    Sampler,
    TraceIdRatioBased,
)
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.util.types import AttributeValue
from pydantic import ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from telemetry.otlp import OtlpHttpSpanExporter

log = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")
Attributes = Mapping[str, AttributeValue]

PROTOCOL = "http/protobuf"
TRACES_PATH = "/v1/traces"
PROPAGATED = ("traceparent", "tracestate")
"""The W3C trace-context headers (gRPC metadata keys are lower case)."""


class TracingSettings(BaseSettings):
    """The standard OpenTelemetry variables this process honours (`OTEL_` + field name)."""

    model_config = SettingsConfigDict(
        env_prefix="OTEL_", extra="ignore", use_attribute_docstrings=True
    )

    exporter_otlp_endpoint: str = ""
    """Base URL of an OTLP/HTTP collector (`http://collector:4318`); spans go to
    `<url>/v1/traces`. Unset (and no traces endpoint): tracing is off."""
    exporter_otlp_traces_endpoint: str = ""
    """Full URL for spans; wins over the base URL."""
    exporter_otlp_protocol: str = PROTOCOL
    """Only `http/protobuf` is supported."""
    exporter_otlp_traces_protocol: str = ""
    """Wins over `OTEL_EXPORTER_OTLP_PROTOCOL` for spans."""
    exporter_otlp_headers: str = ""
    """`key=value,key=value` (values URL-encoded) sent with every export, e.g. a token."""
    exporter_otlp_traces_headers: str = ""
    """Wins over `OTEL_EXPORTER_OTLP_HEADERS` for spans."""
    exporter_otlp_timeout: int = 10_000
    """Milliseconds one export may take."""
    exporter_otlp_compression: str = ""
    """`gzip` compresses the bodies; empty or `none` does not."""
    service_name: str = ""
    """`service.name` of this process's spans; empty: the component's own name."""
    traces_sampler: str = "parentbased_always_on"
    """`always_on`, `always_off`, `traceidratio`, or `parentbased_` + one of them: the
    parent-based ones follow the caller's `traceparent` decision."""
    traces_sampler_arg: float = 1.0
    """The share of new traces the `traceidratio` samplers keep (0 to 1)."""
    sdk_disabled: bool = False
    """`true` turns tracing off whatever else is set."""

    def traces_endpoint(self) -> str | None:
        """Where spans go; None when tracing is off."""
        if self.sdk_disabled:
            return None
        if self.exporter_otlp_traces_endpoint:
            return self.exporter_otlp_traces_endpoint
        if self.exporter_otlp_endpoint:
            return self.exporter_otlp_endpoint.rstrip("/") + TRACES_PATH
        return None

    def protocol(self) -> str:
        return self.exporter_otlp_traces_protocol or self.exporter_otlp_protocol

    def headers(self) -> dict[str, str]:
        raw = self.exporter_otlp_traces_headers or self.exporter_otlp_headers
        pairs = (item.partition("=") for item in raw.split(",") if "=" in item)
        return {
            urllib.parse.unquote(key).strip(): urllib.parse.unquote(value).strip()
            for key, _, value in pairs
        }

    def sampler(self) -> Sampler:
        """The sampler that `OTEL_TRACES_SAMPLER` (and `_ARG`) names; ValueError if unknown."""
        name = self.traces_sampler.strip().lower()
        parent_based = name.startswith("parentbased_")
        root: Sampler
        match name.removeprefix("parentbased_"):
            case "always_on":
                root = ALWAYS_ON
            case "always_off":
                root = ALWAYS_OFF
            case "traceidratio":
                root = TraceIdRatioBased(min(max(self.traces_sampler_arg, 0.0), 1.0))
            case _:
                raise ValueError(f"OTEL_TRACES_SAMPLER={self.traces_sampler} is not supported")
        return ParentBased(root) if parent_based else root


_tracer: trace.Tracer | None = None
"""The process's tracer while tracing is on (None: every helper is a no-op)."""
_call_span: ContextVar[Span | None] = ContextVar("call_span", default=None)
"""The span of the call being served, when its attributes are per call (`annotate_call`)."""
_NOOP: contextlib.nullcontext[None] = contextlib.nullcontext()
_PROPAGATOR = TraceContextTextMapPropagator()


@dataclass
class Tracing:
    """Tracing turned on for this process: `shutdown()` flushes and turns it off."""

    provider: TracerProvider
    tracer: trace.Tracer

    def shutdown(self) -> None:
        """Export what is queued (each POST bounded by `OTEL_EXPORTER_OTLP_TIMEOUT`), then
        stop. Blocking: call it from a thread in async code."""
        global _tracer
        if _tracer is self.tracer:
            _tracer = None
        self.provider.shutdown()  # shuts the batch processor down, which flushes it


def tracing_settings() -> TracingSettings | None:
    """The `OTEL_*` settings when they turn tracing on; None when they leave it off.

    Variables this module cannot honour (another protocol, an unknown sampler, a value
    that does not parse) are logged as an error and leave tracing off: a process is never
    refused for its traces.
    """
    try:
        settings = TracingSettings()
        if settings.traces_endpoint() is None:
            return None
        if settings.protocol() != PROTOCOL:
            raise ValueError(f"OTEL_EXPORTER_OTLP_PROTOCOL={settings.protocol()}: use {PROTOCOL}")
        settings.sampler()
    except (ValidationError, ValueError) as error:
        log.error("tracing off: %s", " ".join(line.strip() for line in str(error).splitlines()[:3]))
        return None
    return settings


def start_tracing(default_service_name: str) -> Tracing | None:
    """Turn tracing on for this process from the `OTEL_*` settings (`tracing_settings()`);
    None when they leave it off."""
    global _tracer
    settings = tracing_settings()
    endpoint = settings.traces_endpoint() if settings is not None else None
    if settings is None or endpoint is None:  # tracing_settings() had one: for the type
        return None
    resource = Resource.create({SERVICE_NAME: settings.service_name or default_service_name})
    provider = TracerProvider(sampler=settings.sampler(), resource=resource)
    exporter = OtlpHttpSpanExporter(
        endpoint,
        headers=settings.headers(),
        timeout_s=settings.exporter_otlp_timeout / 1000,
        gzip_body=settings.exporter_otlp_compression.lower() == "gzip",
    )
    provider.add_span_processor(BatchSpanProcessor(exporter))  # OTEL_BSP_* tune it
    _tracer = provider.get_tracer("sentiment")
    log.info("tracing on: spans to %s (sampler %s)", endpoint, settings.traces_sampler)
    return Tracing(provider, _tracer)


def enabled() -> bool:
    return _tracer is not None


def span(name: str, attributes: Attributes | None = None) -> contextlib.AbstractContextManager[Any]:
    """A child span of the current one, current inside the `with` (a no-op when off).

    An exception leaving it is recorded on the span, whose status becomes ERROR.
    """
    if _tracer is None:
        return _NOOP
    return _tracer.start_as_current_span(name, attributes=attributes)


def traced(name: str) -> Callable[[Callable[P, Awaitable[R]]], Callable[P, Coroutine[Any, Any, R]]]:
    """Decorate a coroutine function: each call runs inside its own `span(name)`."""

    def decorate(function: Callable[P, Awaitable[R]]) -> Callable[P, Coroutine[Any, Any, R]]:
        @functools.wraps(function)
        async def run(*args: P.args, **kwargs: P.kwargs) -> R:
            if _tracer is None:
                return await function(*args, **kwargs)
            with _tracer.start_as_current_span(name):
                return await function(*args, **kwargs)

        return run

    return decorate


def server_span(
    name: str,
    metadata: Iterable[tuple[str, Any]] | None,
    attributes: Attributes | None = None,
    per_call: bool = True,
) -> contextlib.AbstractContextManager[Span | None]:
    """The span of one served call (kind SERVER), continuing the `traceparent` of the
    caller's `metadata`; yields None when tracing is off.

    The caller sets its outcome (`set_outcome`): exceptions are not recorded on it.
    `per_call`: `annotate_call` inside it annotates it (False for a stream, whose messages
    are each their own request).
    """
    if _tracer is None:
        return _NOOP
    return _server_span(_tracer, name, metadata, attributes, per_call)


@contextlib.contextmanager
def _server_span(
    tracer: trace.Tracer,
    name: str,
    metadata: Iterable[tuple[str, Any]] | None,
    attributes: Attributes | None,
    per_call: bool,
) -> Iterator[Span]:
    carrier = {
        key: value for key, value in metadata or () if key in PROPAGATED and isinstance(value, str)
    }
    with tracer.start_as_current_span(
        name,
        context=_PROPAGATOR.extract(carrier) if carrier else None,
        kind=SpanKind.SERVER,
        attributes=attributes,
        record_exception=False,
        set_status_on_exception=False,
    ) as current:
        token = _call_span.set(current if per_call else None)
        try:
            yield current
        finally:
            _call_span.reset(token)


def set_outcome(span: Span | None, attributes: Attributes, error: str | None = None) -> None:
    """End-of-call attributes on a `server_span`; `error`: the span's status is ERROR."""
    if span is None or not span.is_recording():
        return
    span.set_attributes(attributes)
    if error is not None:
        span.set_status(Status(StatusCode.ERROR, error))


def annotate(attributes: Attributes) -> None:
    """Set attributes on the current span (nothing when off or not sampled)."""
    if _tracer is None:
        return
    current = trace.get_current_span()
    if current.is_recording():
        current.set_attributes(attributes)


def annotate_call(attributes: Attributes) -> None:
    """Set attributes on the served call's span (see `server_span`), from any depth."""
    if _tracer is None:
        return
    call = _call_span.get()
    if call is not None and call.is_recording():
        call.set_attributes(attributes)


def inject() -> dict[str, str] | None:
    """The `traceparent` (and `tracestate`) of the current span, for an upstream call;
    None when tracing is off or the trace is not sampled (so the upstream, which traces
    whatever it is sent, follows this process's sampling decision)."""
    if _tracer is None:
        return None
    if not trace.get_current_span().get_span_context().trace_flags.sampled:
        return None
    headers: dict[str, str] = {}
    _PROPAGATOR.inject(headers)
    return headers or None
