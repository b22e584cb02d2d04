"""telemetry.otlp: the OTLP/HTTP protobuf exporter against a real receiver."""

from __future__ import annotations

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult

from telemetry.otlp import OtlpHttpSpanExporter
from tests.otlp import OtlpReceiver


def spans_of(exporter: OtlpHttpSpanExporter) -> None:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with provider.get_tracer("tests").start_as_current_span("one", attributes={"n": 1}):
        pass
    provider.shutdown()


def test_spans_arrive_as_gzipped_protobuf(receiver: OtlpReceiver) -> None:
    exporter = OtlpHttpSpanExporter(f"{receiver.url}/v1/traces", gzip_body=True)
    spans_of(exporter)
    [span] = receiver.spans()
    assert (span.name, span.attributes) == ("one", {"n": 1})
    assert receiver.content_types == ["application/x-protobuf"]


def test_a_refused_batch_is_a_failure_not_an_exception(receiver: OtlpReceiver) -> None:
    exporter = OtlpHttpSpanExporter(f"{receiver.url}/not-traces")
    assert exporter.export([]) is SpanExportResult.FAILURE
    exporter.shutdown()
    assert exporter.export([]) is SpanExportResult.FAILURE
