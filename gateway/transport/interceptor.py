"""The one wrapper of SentimentService's handlers: gateway errors -> gRPC statuses with
rich details.

It wraps the handlers once, when they are registered (`ErrorInterceptor.wrap`), not as a
grpc.aio interceptor: an interceptor runs a coroutine for every call of every service only
to find the wrapper. Every RPC's outcome is counted here too (requests by method and code,
latency), because this is the only place that sees the final status of every call,
rejected ones included;
and each call is a server span here when tracing is on (`telemetry.tracing`), continuing
the caller's `traceparent`. Unknown exceptions become INTERNAL with a generic message; the
traceback and the request id go to the log only.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import grpc
from google.protobuf import any_pb2
from google.rpc import status_pb2

from gateway.core.context import current_call
from gateway.core.errors import GatewayError, InternalError
from gateway.metrics import GatewayMetrics, MethodMetrics
from gateway.transport.servicer import AUDIT_ID_TRAILER
from telemetry import tracing

log = logging.getLogger(__name__)

SERVICE = "sentiment.v1.SentimentService"
SERVER_ERRORS = frozenset(
    {
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.UNIMPLEMENTED,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DATA_LOSS,
    }
)
"""The codes that make a server span's status ERROR (OpenTelemetry's gRPC conventions:
a refused request is the caller's error, not the server's)."""


def rich_status(error: GatewayError) -> tuple[grpc.StatusCode, str, tuple[tuple[str, bytes], ...]]:
    """The code, message and `grpc-status-details-bin` trailer for an error."""
    details = []
    for message in error.details():
        packed = any_pb2.Any()
        packed.Pack(message)
        details.append(packed)
    status = status_pb2.Status(code=error.code.value[0], message=error.message, details=details)
    return error.code, error.message, (("grpc-status-details-bin", status.SerializeToString()),)


def span_attributes(method: str) -> dict[str, str]:
    """A call's span attributes known before it runs (OpenTelemetry's RPC conventions)."""
    return {"rpc.system": "grpc", "rpc.service": SERVICE, "rpc.method": method}


def set_outcome(span: Any, code: grpc.StatusCode, message: str = "") -> None:
    """The call's final status on its span (nothing when tracing is off)."""
    if span is None:
        return
    tracing.set_outcome(
        span,
        {"rpc.grpc.status_code": code.value[0], "sentiment.outcome": code.name},
        (message or code.name) if code in SERVER_ERRORS else None,
    )


def _metadata(context: grpc.aio.ServicerContext) -> Any:
    """The call's metadata for its span's parent (`traceparent`); not read when tracing is
    off (the servicer reads it for the call itself)."""
    return context.invocation_metadata() if tracing.enabled() else None


def _as_gateway_error(error: BaseException, method: str) -> GatewayError:
    if isinstance(error, GatewayError):
        return error
    log.error("unhandled error in %s (%s)", method, current_call.get(), exc_info=error)
    return InternalError()


class ErrorInterceptor:
    """Maps GatewayError (and anything unexpected) to statuses; records call metrics."""

    def __init__(self, metrics: GatewayMetrics) -> None:
        self._metrics = metrics

    def wrap(self, handlers: dict[str, grpc.RpcMethodHandler]) -> dict[str, grpc.RpcMethodHandler]:
        """SentimentService's handlers by method name, each wrapped."""
        return {method: self._wrap(handler, method) for method, handler in handlers.items()}

    def _wrap(self, handler: grpc.RpcMethodHandler, method: str) -> grpc.RpcMethodHandler:
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                self._unary(handler.unary_unary, method),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.stream_stream is not None:
            return grpc.stream_stream_rpc_method_handler(
                self._stream(handler.stream_stream, method),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return handler

    async def _abort(self, context: grpc.aio.ServicerContext, error: GatewayError) -> None:
        code, message, details = rich_status(error)
        trailer: tuple[tuple[str, str | bytes], ...] = details
        if error.audit_id:  # the refusal is recorded too: the caller can cite it
            trailer = (*details, (AUDIT_ID_TRAILER, error.audit_id))
        await context.abort(code, message, trailing_metadata=trailer)

    async def _failed(
        self,
        raw: Exception,
        context: grpc.aio.ServicerContext,
        span: Any,
        record: MethodMetrics,
        method: str,
        started: float,
    ) -> None:
        """Count and trace a failed call; its GatewayError (or a bug) becomes the call's
        status with details (raises grpc's AbortError)."""
        error = _as_gateway_error(raw, method)
        record.failed(error.code, error.reason, started)
        set_outcome(span, error.code, error.message)
        await self._abort(context, error)

    def _unary(self, behavior: Any, method: str) -> Any:
        record = self._metrics.for_method(method)
        name, attributes = f"{SERVICE}/{method}", span_attributes(method)

        async def handle(request: Any, context: grpc.aio.ServicerContext) -> Any:
            started = time.perf_counter()
            with tracing.server_span(name, _metadata(context), attributes) as span:
                try:
                    response = await behavior(request, context)
                except grpc.aio.AbortError:
                    raise
                except asyncio.CancelledError:
                    set_outcome(span, grpc.StatusCode.CANCELLED)
                    raise
                except Exception as raw:
                    await self._failed(raw, context, span, record, method, started)
                record.ok(started)
                set_outcome(span, grpc.StatusCode.OK)
                return response

        return handle

    def _stream(self, behavior: Any, method: str) -> Any:
        record = self._metrics.for_method(method)
        name, attributes = f"{SERVICE}/{method}", span_attributes(method)

        async def handle(
            requests: AsyncIterator[Any], context: grpc.aio.ServicerContext
        ) -> AsyncIterator[Any]:
            started = time.perf_counter()
            # One span for the stream; each message's own spans (Triton, audit) are its
            # children and carry that message's ids.
            metadata = _metadata(context)
            with tracing.server_span(name, metadata, attributes, per_call=False) as span:
                try:
                    async for response in behavior(requests, context):
                        yield response
                except grpc.aio.AbortError:
                    raise
                except asyncio.CancelledError:
                    set_outcome(span, grpc.StatusCode.CANCELLED)
                    raise
                except Exception as raw:
                    await self._failed(raw, context, span, record, method, started)
                record.ok(started)
                set_outcome(span, grpc.StatusCode.OK)

        return handle
