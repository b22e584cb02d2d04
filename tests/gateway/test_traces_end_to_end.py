"""The gateway's traces, against a real OTLP/HTTP receiver (tests/otlp.py).

Without Triton: each call's server span, its auth, Triton and audit children, their
attributes, and no API key secret anywhere in what is exported. With the real Triton
binary in its OpenTelemetry trace mode: one trace id spans the client's `traceparent`,
the gateway's spans and Triton's.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from api.generated.sentiment.v1 import sentiment_pb2 as pb
from gateway.core.text import TextAnalyzer
from serving.tritonserver import TritonServer, TritonTracing
from telemetry import tracing
from tests.gateway.conftest import RunningGateway, auth, gateway_settings, triton_server
from tests.otlp import OtlpReceiver, ReceivedSpan

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
CLIENT_SPAN = "b7ad6b7169203331"
TRACEPARENT = ("traceparent", f"00-{TRACE_ID}-{CLIENT_SPAN}-01")
METHOD_SPAN = "sentiment.v1.SentimentService/Predict"
CHILDREN = {"sentiment.auth", "sentiment.triton", "sentiment.audit"}


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[OtlpReceiver]:
    """A receiver that the processes started in the test send their spans to, quickly."""
    server = OtlpReceiver()
    for name in list(os.environ):
        if name.upper().startswith("OTEL_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", server.url)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "100")  # the gateway's and Triton's batches
    yield server
    server.close()


def in_trace(spans: list[ReceivedSpan], trace_id: str) -> dict[str, ReceivedSpan]:
    return {s.name: s for s in spans if s.trace_id == trace_id}


def test_a_call_is_a_server_span_with_its_ids_and_children(
    receiver: OtlpReceiver, start_gateway: Any
) -> None:
    gateway = start_gateway()  # Triton is down: the call ends UNAVAILABLE
    token = gateway.create_key("tracing")
    with pytest.raises(grpc.RpcError) as failed:
        gateway.stub.Predict(
            pb.PredictRequest(text="a good movie", request_id="trace-1"),
            metadata=(*auth(token), TRACEPARENT),
            timeout=10,
        )
    assert failed.value.code() == grpc.StatusCode.UNAVAILABLE
    audit_id = dict(failed.value.trailing_metadata())["x-audit-id"]

    spans = receiver.wait_for(
        lambda got: CHILDREN | {METHOD_SPAN} <= in_trace(got, TRACE_ID).keys()
    )
    trace = in_trace(spans, TRACE_ID)
    call = trace[METHOD_SPAN]
    assert call.parent_id == CLIENT_SPAN and call.kind == 2  # SERVER
    assert call.service == "sentiment-gateway"
    assert {trace[name].parent_id for name in CHILDREN} == {call.span_id}
    key_id = token.split("_")[1]
    assert call.attributes == {
        "rpc.system": "grpc",
        "rpc.service": "sentiment.v1.SentimentService",
        "rpc.method": "Predict",
        "rpc.grpc.status_code": grpc.StatusCode.UNAVAILABLE.value[0],
        "sentiment.outcome": "UNAVAILABLE",
        "sentiment.request_id": "trace-1",
        "sentiment.audit_id": audit_id,
        "sentiment.key_id": key_id,
        "sentiment.text_count": 1,
    }
    assert call.status == 2  # ERROR: UNAVAILABLE is the server's side
    assert trace["sentiment.triton"].status == 2  # the upstream call failed
    # The key's id is traced, its secret never is, in any attribute or exception message.
    secret = token.split("_", 2)[2]  # the secret may hold "_" itself
    assert not any(secret.encode() in body or token.encode() in body for body in receiver.bodies)


def test_a_refused_caller_is_traced_without_a_key(
    receiver: OtlpReceiver, start_gateway: Any
) -> None:
    gateway = start_gateway()
    made_up = "snt_0123456789ab_" + "s" * 43
    with pytest.raises(grpc.RpcError) as failed:
        gateway.stub.Predict(pb.PredictRequest(text="good"), metadata=auth(made_up), timeout=10)
    assert failed.value.code() == grpc.StatusCode.UNAUTHENTICATED
    spans = receiver.wait_for(lambda got: {METHOD_SPAN, "sentiment.audit"} <= {s.name for s in got})
    call = next(s for s in spans if s.name == METHOD_SPAN)
    assert call.attributes["sentiment.outcome"] == "UNAUTHENTICATED"
    assert "sentiment.key_id" not in call.attributes
    assert call.status == 0  # the caller's error, not the server's
    assert not any(b"s" * 43 in body for body in receiver.bodies)


def test_tracing_is_off_without_the_variables(start_gateway: Any, monkeypatch: Any) -> None:
    for name in list(os.environ):
        if name.upper().startswith("OTEL_"):
            monkeypatch.delenv(name)
    gateway = start_gateway()
    assert gateway.server.tracing is None and not tracing.enabled()


@pytest.fixture(scope="module")
def traced_triton(
    repository: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[TritonServer, OtlpReceiver]]:
    """The real Triton binary in its OpenTelemetry trace mode, sending to its own receiver."""
    receiver = OtlpReceiver()
    server = dataclasses.replace(
        triton_server(repository, tmp_path_factory.mktemp("traced-triton")),
        tracing=TritonTracing(f"{receiver.url}/v1/traces"),
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OTEL_BSP_SCHEDULE_DELAY", "100")  # Triton's batches, quickly
        server.start()
    try:
        with server:
            yield server, receiver
    finally:
        server.stop()  # also when it never became ready
        receiver.close()


@pytest.mark.triton
def test_one_trace_spans_the_client_the_gateway_and_triton(
    traced_triton: tuple[TritonServer, OtlpReceiver],
    repository: Path,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    triton, receiver = traced_triton
    for name in list(os.environ):
        if name.upper().startswith("OTEL_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.url)
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "100")
    gateway = RunningGateway(
        gateway_settings(triton.grpc_url), tmp_path, TextAnalyzer.from_repository(repository)
    ).start()
    try:
        key = gateway.create_key("tracing")
        answer = gateway.stub.Predict(
            pb.PredictRequest(text="a great movie", request_id="trace-e2e"),
            metadata=(*auth(key), TRACEPARENT),
            timeout=30,
        )
        untraced = gateway.stub.Predict(
            pb.PredictRequest(text="a dull movie"), metadata=auth(key), timeout=30
        )
    finally:
        gateway.stop()  # flushes the gateway's spans

    def triton_spans(spans: list[ReceivedSpan]) -> list[ReceivedSpan]:
        return [s for s in spans if s.service == "sentiment-triton" and s.trace_id == TRACE_ID]

    spans = receiver.wait_for(
        lambda got: METHOD_SPAN in in_trace(got, TRACE_ID) and len(triton_spans(got)) >= 3
    )
    gateway_spans = in_trace([s for s in spans if s.service == "sentiment-gateway"], TRACE_ID)
    assert CHILDREN | {METHOD_SPAN} <= gateway_spans.keys()
    assert gateway_spans[METHOD_SPAN].parent_id == CLIENT_SPAN
    assert gateway_spans[METHOD_SPAN].attributes["sentiment.model.version"] == answer.model.version
    # Triton's request span continues the gateway's Triton span; its model spans carry the
    # audit id as Triton's request id.
    from_triton = triton_spans(spans)
    roots = [s for s in from_triton if s.parent_id == gateway_spans["sentiment.triton"].span_id]
    assert [s.name for s in roots] == ["InferRequest"]
    request_ids = {s.attributes.get("triton.request_id") for s in from_triton} - {None}
    assert request_ids == {answer.audit_id}
    assert {"sentiment"} <= {s.attributes.get("triton.model_name") for s in from_triton}
    # A call without a traceparent starts its own trace, which Triton continues too.
    other = receiver.wait_for(
        lambda got: any(s.attributes.get("triton.request_id") == untraced.audit_id for s in got)
    )
    triton_request = next(
        s for s in other if s.attributes.get("triton.request_id") == untraced.audit_id
    )
    assert triton_request.trace_id != TRACE_ID
    assert any(s.name == METHOD_SPAN and s.trace_id == triton_request.trace_id for s in other)
