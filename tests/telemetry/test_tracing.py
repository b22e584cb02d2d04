"""telemetry.tracing: off unless an OTLP endpoint is set; the standard variables; spans,
context propagation and the flush at shutdown, against a real OTLP/HTTP receiver."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ParentBased, TraceIdRatioBased

from telemetry import tracing
from telemetry.tracing import Tracing, TracingSettings, start_tracing, tracing_settings
from tests.otlp import OtlpReceiver

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"


def traceparent(sampled: bool = True) -> tuple[str, str]:
    return ("traceparent", f"00-{TRACE_ID}-{CALLER_SPAN}-{'01' if sampled else '00'}")


@pytest.fixture
def traced(receiver: OtlpReceiver, monkeypatch: pytest.MonkeyPatch) -> Iterator[Tracing]:
    """Tracing on, to the receiver; shut down (flushed) at the end if a test did not."""
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.url)
    monkeypatch.setenv("OTEL_SERVICE_NAME", "tests")
    handle = start_tracing("default-name")
    assert handle is not None
    yield handle
    handle.shutdown()


def test_off_when_no_endpoint_is_set() -> None:
    assert start_tracing("gateway") is None
    assert not tracing.enabled()
    # One shared no-op: nothing is allocated per call while off.
    assert tracing.span("a") is tracing.span("b")
    assert tracing.server_span("call", [traceparent()]) is tracing.span("c")
    with tracing.server_span("call", [traceparent()]) as span:
        assert span is None
        tracing.annotate({"k": "v"})
        tracing.annotate_call({"k": "v"})
        assert tracing.inject() is None
    tracing.set_outcome(None, {"k": "v"}, "error")


def test_a_traced_coroutine_runs_the_same_when_off() -> None:
    @tracing.traced("step")
    async def double(value: int) -> int:
        return value * 2

    assert asyncio.run(double(21)) == 42


@pytest.mark.parametrize(
    ("variables", "endpoint"),
    [
        ({}, None),
        (
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"},
            "http://collector:4318/v1/traces",
        ),
        (
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318/"},
            "http://collector:4318/v1/traces",
        ),
        (
            {
                "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318",
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://traces:9999/custom",
            },
            "http://traces:9999/custom",
        ),
        (
            {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://traces:9999/custom"},
            "http://traces:9999/custom",
        ),
        (
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_SDK_DISABLED": "true"},
            None,
        ),
    ],
)
def test_the_endpoint_comes_from_the_standard_variables(
    variables: dict[str, str], endpoint: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    settings = tracing_settings()
    assert (settings.traces_endpoint() if settings else None) == endpoint


def test_the_sampler_comes_from_the_standard_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "parentbased_traceidratio")
    monkeypatch.setenv("OTEL_TRACES_SAMPLER_ARG", "0.25")
    sampler = TracingSettings().sampler()
    assert isinstance(sampler, ParentBased)
    assert "TraceIdRatioBased{0.25}" in sampler.get_description()
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "traceidratio")
    assert isinstance(TracingSettings().sampler(), TraceIdRatioBased)
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "always_off")
    assert TracingSettings().sampler() is ALWAYS_OFF


def test_headers_are_parsed_like_the_sdk_does(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-token=a%20b, x-team = ml ,broken")
    assert TracingSettings().headers() == {"x-token": "a b", "x-team": "ml"}


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/json"),
        ("OTEL_TRACES_SAMPLER", "jaeger_remote"),
        ("OTEL_TRACES_SAMPLER_ARG", "half"),
    ],
)
def test_what_cannot_be_honoured_leaves_tracing_off_with_an_error(
    name: str, value: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")
    monkeypatch.setenv(name, value)
    with caplog.at_level(logging.ERROR, logger="telemetry.tracing"):
        assert start_tracing("gateway") is None
    assert not tracing.enabled()
    assert "tracing off" in caplog.text


def test_spans_continue_the_callers_trace_and_reach_the_collector(
    traced: Tracing, receiver: OtlpReceiver
) -> None:
    @tracing.traced("step")
    async def step() -> dict[str, str] | None:
        tracing.annotate_call({"call.key": "from a child"})
        return tracing.inject()

    with tracing.server_span("call", [traceparent(), ("other", "x")], {"a": 1}) as span:
        headers = asyncio.run(step())
        tracing.set_outcome(span, {"outcome": "OK"})
    traced.shutdown()  # flushes the batch
    assert not tracing.enabled()

    spans = {s.name: s for s in receiver.spans()}
    call, child = spans["call"], spans["step"]
    assert {call.trace_id, child.trace_id} == {TRACE_ID}
    assert call.parent_id == CALLER_SPAN and call.kind == 2  # SERVER
    assert child.parent_id == call.span_id
    assert call.attributes == {"a": 1, "call.key": "from a child", "outcome": "OK"}
    assert call.service == "tests"  # OTEL_SERVICE_NAME wins over the default
    assert receiver.content_types == ["application/x-protobuf"]
    # What the child sends upstream names the child as the parent.
    assert headers == {"traceparent": f"00-{TRACE_ID}-{child.span_id}-01"}


def test_an_unsampled_caller_is_followed_and_nothing_is_propagated(
    traced: Tracing, receiver: OtlpReceiver
) -> None:
    with tracing.server_span("call", [traceparent(sampled=False)]):
        assert tracing.inject() is None
    with tracing.server_span("sampled", []):
        assert tracing.inject() is not None  # a new root: sampled by parentbased_always_on
    traced.shutdown()
    assert [s.name for s in receiver.spans()] == ["sampled"]


def test_a_server_error_sets_the_status_and_a_failed_child_records_its_exception(
    traced: Tracing, receiver: OtlpReceiver
) -> None:
    with tracing.server_span("call", []) as span:
        with pytest.raises(RuntimeError), tracing.span("child"):
            raise RuntimeError("boom")
        tracing.set_outcome(span, {"outcome": "INTERNAL"}, "internal error")
    traced.shutdown()
    spans = {s.name: s for s in receiver.spans()}
    assert spans["call"].status == 2 and spans["child"].status == 2  # ERROR


def test_a_stream_span_is_not_annotated_per_message(
    traced: Tracing, receiver: OtlpReceiver
) -> None:
    with tracing.server_span("stream", [], per_call=False):
        tracing.annotate_call({"request": "one of many"})
    traced.shutdown()
    assert receiver.spans()[0].attributes == {}


def test_an_unreachable_collector_costs_a_warning_not_an_error(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://127.0.0.1:9/v1/traces")
    handle = start_tracing("gateway")
    assert handle is not None
    with caplog.at_level(logging.WARNING, logger="telemetry.otlp"), tracing.span("lost"):
        pass
    handle.shutdown()
    assert "spans not sent" in caplog.text
