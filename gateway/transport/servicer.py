"""gRPC transport of SentimentService: convert in, await the core, convert out."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc

from api.generated.sentiment.v1 import sentiment_pb2 as pb
from contract.pipeline import TRUNCATE_HEAD, TRUNCATE_HEAD_TAIL
from gateway.core.service import CallInfo, EncodedRequest, PredictionResult, PredictionService
from gateway.core.validation import RawRequest, UndecodableRequest
from gateway.transport.decoding import RequestDecoder

SingleRequest = pb.PredictRequest | pb.PredictStreamRequest

AUDIT_ID_TRAILER = "x-audit-id"
"""Trailing metadata of every unary call, answered or refused: its attempt's audit id.
(A stream's messages carry theirs in each response; a refused message's is in the
trailer of the stream's error.)"""


TRUNCATIONS: dict[int, str] = {
    pb.TRUNCATION_UNSPECIFIED: "",
    pb.TRUNCATION_NONE: "none",
    pb.TRUNCATION_HEAD: TRUNCATE_HEAD,
    pb.TRUNCATION_HEAD_TAIL: TRUNCATE_HEAD_TAIL,
}
"""sentiment.v1.Truncation -> the core's RawRequest.truncation."""


def truncation(value: int) -> str:
    """The core's name of a Truncation value; a number this release does not know as its
    digits (validation refuses it with a field violation)."""
    return TRUNCATIONS.get(value, str(value))


def call_info(context: grpc.aio.ServicerContext, method: str) -> CallInfo:
    remaining = context.time_remaining()
    return CallInfo(
        method=method,
        metadata={
            key: value
            for key, value in context.invocation_metadata() or ()
            if isinstance(value, str)
        },
        deadline=None if remaining is None else time.monotonic() + remaining,
        peer=context.peer() or "",
    )


def raw_single(request: SingleRequest | UndecodableRequest) -> RawRequest | UndecodableRequest:
    if isinstance(request, UndecodableRequest):
        return request
    return RawRequest(
        [request.text],
        request.request_id,
        request.model,
        batch=False,
        truncation=truncation(request.truncation),
    )


def raw_batch(
    request: pb.PredictBatchRequest | UndecodableRequest,
) -> RawRequest | UndecodableRequest:
    if isinstance(request, UndecodableRequest):
        return request
    return RawRequest(
        list(request.texts),
        request.request_id,
        request.model,
        batch=True,
        truncation=truncation(request.truncation),
    )


def encoded(
    data: bytes,
    decoder: RequestDecoder[Any],
    convert: Callable[[Any], RawRequest | UndecodableRequest],
) -> EncodedRequest:
    """`data` with the way to decode it, for the core to call once the caller is known."""
    return EncodedRequest(len(data), lambda: convert(decoder(data)))


def prediction(result: PredictionResult, index: int) -> pb.Prediction:
    p = result.predictions[index]
    return pb.Prediction(label=p.label, score=p.score, probabilities=p.probabilities)


def model_info(result: PredictionResult) -> pb.ModelInfo:
    m = result.model
    return pb.ModelInfo(name=m.name, version=m.version, mlflow_run_id=m.mlflow_run_id)


class SentimentServicer:
    """SentimentService methods, registered by gateway.server to receive request bytes.

    Messages are decoded by the core, through `RequestDecoder`, only after the caller is
    authenticated: bytes it cannot accept become an UndecodableRequest the core refuses.
    """

    def __init__(self, service: PredictionService, max_bytes: int) -> None:
        self._service = service
        self._single = RequestDecoder(pb.PredictRequest, max_bytes)
        self._batch = RequestDecoder(pb.PredictBatchRequest, max_bytes)
        self._stream = RequestDecoder(pb.PredictStreamRequest, max_bytes)

    async def Predict(self, data: bytes, context: grpc.aio.ServicerContext) -> pb.PredictResponse:
        result = await self._service.predict(
            encoded(data, self._single, raw_single), call_info(context, "Predict")
        )
        context.set_trailing_metadata(((AUDIT_ID_TRAILER, result.audit_id),))
        return pb.PredictResponse(
            request_id=result.request_id,
            prediction=prediction(result, 0),
            model=model_info(result),
            audit_id=result.audit_id,
        )

    async def PredictBatch(
        self, data: bytes, context: grpc.aio.ServicerContext
    ) -> pb.PredictBatchResponse:
        result = await self._service.predict(
            encoded(data, self._batch, raw_batch), call_info(context, "PredictBatch")
        )
        predictions = [prediction(result, i) for i in range(len(result.predictions))]
        context.set_trailing_metadata(((AUDIT_ID_TRAILER, result.audit_id),))
        return pb.PredictBatchResponse(
            request_id=result.request_id,
            predictions=predictions,
            model=model_info(result),
            audit_id=result.audit_id,
        )

    async def PredictStream(
        self, request_iterator: AsyncIterator[bytes], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.PredictStreamResponse]:
        requests = (encoded(data, self._stream, raw_single) async for data in request_iterator)
        async for result in self._service.predict_stream(
            requests, call_info(context, "PredictStream")
        ):
            yield pb.PredictStreamResponse(
                request_id=result.request_id,
                prediction=prediction(result, 0),
                model=model_info(result),
                audit_id=result.audit_id,
            )
