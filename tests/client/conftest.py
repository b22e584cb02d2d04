"""Fixtures of the client tests: a real grpc.aio SentimentService on a free port that
answers as each test scripts it and counts the calls it gets."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import error_details_pb2, status_pb2

from api.generated.sentiment.v1 import sentiment_pb2 as pb

SERVICE = "sentiment.v1.SentimentService"


@dataclass(frozen=True)
class Refusal:
    """A status to answer with, and the RetryInfo delay to send with it (None: none)."""

    code: grpc.StatusCode
    retry_after: float | None = None

    def trailer(self) -> tuple[tuple[str, bytes], ...]:
        details = []
        if self.retry_after is not None:
            delay = duration_pb2.Duration()
            delay.FromNanoseconds(int(self.retry_after * 1e9))
            packed = any_pb2.Any()
            packed.Pack(error_details_pb2.RetryInfo(retry_delay=delay))
            details.append(packed)
        status = status_pb2.Status(code=self.code.value[0], message="refused", details=details)
        return (("grpc-status-details-bin", status.SerializeToString()),)


Script = Callable[[int], Refusal | None]
"""The answer to the n-th attempt (1 for the first) of a request id: a refusal, or None
to answer OK."""


@dataclass
class ScriptedServer:
    """Answers Predict as scripted; `attempts` holds each request id's attempt times."""

    script: Script
    target: str = ""
    attempts: dict[str, list[float]] = field(default_factory=dict)
    requests: list[pb.PredictRequest] = field(default_factory=list)
    """Every request received, in order."""

    @property
    def calls(self) -> int:
        return sum(len(times) for times in self.attempts.values())

    async def predict(self, request: pb.PredictRequest, context: Any) -> pb.PredictResponse:
        self.requests.append(request)
        times = self.attempts.setdefault(request.request_id, [])
        times.append(time.monotonic())
        refusal = self.script(len(times))
        if refusal is not None:
            await context.abort(refusal.code, "refused", trailing_metadata=refusal.trailer())
        return pb.PredictResponse(request_id=request.request_id)


@asynccontextmanager
async def scripted_server(script: Script) -> AsyncIterator[ScriptedServer]:
    """A real gRPC server on a free port of 127.0.0.1, stopped on exit."""
    scripted = ScriptedServer(script)
    handler = grpc.unary_unary_rpc_method_handler(
        scripted.predict,
        request_deserializer=pb.PredictRequest.FromString,
        response_serializer=pb.PredictResponse.SerializeToString,
    )
    server = grpc.aio.server()
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(SERVICE, {"Predict": handler}),)
    )
    scripted.target = f"127.0.0.1:{server.add_insecure_port('127.0.0.1:0')}"
    await server.start()
    try:
        yield scripted
    finally:
        await server.stop(None)
