"""gRPC transport of SentimentService: convert in, await the core, convert out."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import grpc

from api.generated.sentiment.v1 import sentiment_pb2 as pb
from gateway.core.service import CallInfo, PredictionResult, PredictionService
from gateway.core.validation import RawRequest, UndecodableRequest

SingleRequest = pb.PredictRequest | pb.PredictStreamRequest

AUDIT_ID_TRAILER = "x-audit-id"
"""Trailing metadata of every unary call, answered or refused: its attempt's audit id.
(A stream's messages carry theirs in each response; a refused message's is in the
trailer of the stream's error.)"""


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
    )


def raw_single(request: SingleRequest | UndecodableRequest) -> RawRequest | UndecodableRequest:
    if isinstance(request, UndecodableRequest):
        return request
    return RawRequest([request.text], request.request_id, request.model, batch=False)


def raw_batch(
    request: pb.PredictBatchRequest | UndecodableRequest,
) -> RawRequest | UndecodableRequest:
    if isinstance(request, UndecodableRequest):
        return request
    return RawRequest(list(request.texts), request.request_id, request.model, batch=True)


def prediction(result: PredictionResult, index: int) -> pb.Prediction:
    p = result.predictions[index]
    return pb.Prediction(label=p.label, score=p.score, probabilities=p.probabilities)


def model_info(result: PredictionResult) -> pb.ModelInfo:
    m = result.model
    return pb.ModelInfo(name=m.name, version=m.version, mlflow_run_id=m.mlflow_run_id)


class SentimentServicer:
    """SentimentService methods (registered by gateway.server with our request decoders).

    The decoder hands in an UndecodableRequest for bytes it could not accept.
    """

    def __init__(self, service: PredictionService) -> None:
        self._service = service

    async def Predict(
        self, request: pb.PredictRequest | UndecodableRequest, context: grpc.aio.ServicerContext
    ) -> pb.PredictResponse:
        result = await self._service.predict(raw_single(request), call_info(context, "Predict"))
        context.set_trailing_metadata(((AUDIT_ID_TRAILER, result.audit_id),))
        return pb.PredictResponse(
            request_id=result.request_id,
            prediction=prediction(result, 0),
            model=model_info(result),
            audit_id=result.audit_id,
        )

    async def PredictBatch(
        self,
        request: pb.PredictBatchRequest | UndecodableRequest,
        context: grpc.aio.ServicerContext,
    ) -> pb.PredictBatchResponse:
        call = call_info(context, "PredictBatch")
        result = await self._service.predict(raw_batch(request), call)
        predictions = [prediction(result, i) for i in range(len(result.predictions))]
        context.set_trailing_metadata(((AUDIT_ID_TRAILER, result.audit_id),))
        return pb.PredictBatchResponse(
            request_id=result.request_id,
            predictions=predictions,
            model=model_info(result),
            audit_id=result.audit_id,
        )

    async def PredictStream(
        self,
        request_iterator: AsyncIterator[pb.PredictStreamRequest | UndecodableRequest],
        context: grpc.aio.ServicerContext,
    ) -> AsyncIterator[pb.PredictStreamResponse]:
        requests = (raw_single(r) async for r in request_iterator)
        async for result in self._service.predict_stream(
            requests, call_info(context, "PredictStream")
        ):
            yield pb.PredictStreamResponse(
                request_id=result.request_id,
                prediction=prediction(result, 0),
                model=model_info(result),
                audit_id=result.audit_id,
            )
