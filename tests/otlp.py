"""A real OTLP/HTTP traces receiver for the tracing tests: what a collector's `/v1/traces`
does, on a free port.

It takes protobuf bodies (the gateway's exporter) and JSON ones (Triton's: OTLP/JSON
writes trace and span ids as hex), decodes both into opentelemetry-proto's
`ExportTraceServiceRequest` and keeps every span with its resource's `service.name`.
"""

from __future__ import annotations

import base64
import gzip
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

ID_FIELDS = ("traceId", "spanId", "parentSpanId")


@dataclass(frozen=True)
class ReceivedSpan:
    service: str
    name: str
    trace_id: str
    span_id: str
    parent_id: str
    """'' for a root span."""
    kind: int
    """opentelemetry-proto's Span.SpanKind (2: SERVER, 3: CLIENT)."""
    attributes: dict[str, Any]
    status: int
    """Status.StatusCode (0 unset, 1 OK, 2 ERROR)."""


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    return getattr(value, kind) if kind else None


def _hex_ids_to_base64(node: Any) -> None:
    """OTLP/JSON's hex ids as protobuf JSON's base64 bytes, in place."""
    if isinstance(node, dict):
        for key, item in node.items():
            if key in ID_FIELDS and isinstance(item, str) and item:
                node[key] = base64.b64encode(bytes.fromhex(item)).decode()
            else:
                _hex_ids_to_base64(item)
    elif isinstance(node, list):
        for item in node:
            _hex_ids_to_base64(item)


def decode(body: bytes, content_type: str) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    if content_type.startswith("application/json"):
        document = json.loads(body)
        _hex_ids_to_base64(document)
        json_format.ParseDict(document, request, ignore_unknown_fields=True)
    else:
        request.ParseFromString(body)
    return request


class OtlpReceiver:
    """POST /v1/traces on 127.0.0.1 (`url` is the base a client's OTEL endpoint takes)."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self.content_types: list[str] = []
        self._spans: list[ReceivedSpan] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                if self.path != "/v1/traces":
                    self.send_error(404)
                    return
                receiver.receive(body, self.headers.get("Content-Type", ""))
                answer = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def receive(self, body: bytes, content_type: str) -> None:
        request = decode(body, content_type)
        spans = []
        for resource_spans in request.resource_spans:
            resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    spans.append(
                        ReceivedSpan(
                            service=str(resource.get("service.name", "")),
                            name=span.name,
                            trace_id=span.trace_id.hex(),
                            span_id=span.span_id.hex(),
                            parent_id=span.parent_span_id.hex(),
                            kind=span.kind,
                            attributes={a.key: _value(a.value) for a in span.attributes},
                            status=span.status.code,
                        )
                    )
        with self._lock:
            self.bodies.append(body)
            self.content_types.append(content_type)
            self._spans.extend(spans)

    def spans(self) -> list[ReceivedSpan]:
        with self._lock:
            return list(self._spans)

    def wait_for(
        self, done: Callable[[list[ReceivedSpan]], bool], timeout: float = 20.0
    ) -> list[ReceivedSpan]:
        """The spans received once `done(spans)` holds; AssertionError after `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            spans = self.spans()
            if done(spans):
                return spans
            if time.monotonic() > deadline:
                raise AssertionError(f"spans after {timeout}s: {spans}")
            time.sleep(0.1)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
