"""An OTLP/HTTP span exporter: protobuf bodies POSTed to a collector's `/v1/traces`.

The OpenTelemetry project's own HTTP exporter cannot be installed here: every release that
works with opentelemetry-sdk 1.4x needs opentelemetry-proto 1.28 or newer, which needs
protobuf 5, and the project stays on protobuf 4 for tritonclient 2.51's gRPC stubs. So the
body is encoded by OpenTelemetry's encoder package (`opentelemetry-exporter-otlp-proto-
common` 1.27, the last on protobuf 4) and sent here with the standard library. A batch
that cannot be delivered is dropped and logged (spans are diagnostics, not records); the
next batch tries again.
"""

from __future__ import annotations

import gzip
import logging
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

log = logging.getLogger(__name__)

CONTENT_TYPE = "application/x-protobuf"


class OtlpHttpSpanExporter(SpanExporter):
    """Sends each batch as one `ExportTraceServiceRequest` to `endpoint` (a full URL)."""

    def __init__(
        self,
        endpoint: str,
        headers: Mapping[str, str] | None = None,
        timeout_s: float = 10.0,
        gzip_body: bool = False,
    ) -> None:
        self.endpoint = endpoint
        self._headers = {**(headers or {}), "Content-Type": CONTENT_TYPE}
        if gzip_body:
            self._headers["Content-Encoding"] = "gzip"
        self._timeout_s = timeout_s
        self._gzip = gzip_body
        self._failing = False
        self._stopped = False

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self._stopped:
            return SpanExportResult.FAILURE
        body = encode_spans(spans).SerializeToString()
        if self._gzip:
            body = gzip.compress(body)
        request = urllib.request.Request(
            self.endpoint, data=body, headers=self._headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=self._timeout_s) as response:
                response.read()
        except (urllib.error.URLError, OSError, ValueError) as error:
            # One warning per outage, not one per batch.
            level = logging.DEBUG if self._failing else logging.WARNING
            log.log(level, "%d spans not sent to %s: %s", len(spans), self.endpoint, error)
            self._failing = True
            return SpanExportResult.FAILURE
        if self._failing:
            log.info("spans reach %s again", self.endpoint)
            self._failing = False
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        self._stopped = True

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True  # nothing is buffered here (the batch processor holds the queue)
