"""A small typed client of SentimentService over the generated stubs.

Every call has a deadline. A refusal the server marks as passing (UNAVAILABLE, or
RESOURCE_EXHAUSTED with RetryInfo) is retried after the server's RetryInfo delay (else a
jittered backoff) while the deadline allows, at most `retries` times, and only while the
client's `RetryBudget` has retries left (see `client.retry`). A request id is made before
the first attempt so that retries of one call are one request in the audit log.

A text over the served model's token limit (512 for MiniLM) is refused (INVALID_ARGUMENT,
a field violation naming it) unless the call passes `truncation="head"` (keep its start)
or `"head_tail"` (keep a quarter of the budget from its start and the rest from its end).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal, TypeVar

import grpc
from google.protobuf.message import Message
from google.rpc import error_details_pb2, status_pb2

from api.generated.sentiment.v1 import sentiment_pb2 as pb
from api.generated.sentiment.v1 import sentiment_pb2_grpc as pb_grpc
from client.retry import RetryBudget, retry_delay

T = TypeVar("T")
Truncation = Literal["none", "head", "head_tail"]
"""What the gateway does with a text over the token limit: refuse it, or cut it."""
TRUNCATIONS: dict[str, pb.Truncation.ValueType] = {
    "none": pb.TRUNCATION_NONE,
    "head": pb.TRUNCATION_HEAD,
    "head_tail": pb.TRUNCATION_HEAD_TAIL,
}
DETAIL_TYPES: tuple[type[Message], ...] = (
    error_details_pb2.BadRequest,
    error_details_pb2.QuotaFailure,
    error_details_pb2.RetryInfo,
)


@dataclass(frozen=True)
class ErrorDetails:
    """The google.rpc details of a failed call, unpacked."""

    field_violations: dict[str, str] = field(default_factory=dict)
    """BadRequest: field path -> description."""
    quota_violations: list[str] = field(default_factory=list)
    retry_after: float | None = None


def error_details(error: grpc.aio.AioRpcError | grpc.RpcError) -> ErrorDetails:
    """Unpack `grpc-status-details-bin` of a failed call (empty when it has none)."""
    trailers = error.trailing_metadata() if hasattr(error, "trailing_metadata") else None
    raw = next((v for k, v in (trailers or ()) if k == "grpc-status-details-bin"), None)
    if not isinstance(raw, bytes):
        return ErrorDetails()
    status = status_pb2.Status.FromString(raw)
    violations: dict[str, str] = {}
    quota: list[str] = []
    retry_after = None
    for packed in status.details:
        if packed.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            packed.Unpack(bad)
            violations.update({v.field: v.description for v in bad.field_violations})
        elif packed.Is(error_details_pb2.QuotaFailure.DESCRIPTOR):
            failure = error_details_pb2.QuotaFailure()
            packed.Unpack(failure)
            quota.extend(v.subject for v in failure.violations)
        elif packed.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            info = error_details_pb2.RetryInfo()
            packed.Unpack(info)
            retry_after = info.retry_delay.ToNanoseconds() / 1e9
    return ErrorDetails(violations, quota, retry_after)


class SentimentClient:
    """Async client; use `async with SentimentClient(target, api_key) as client`."""

    def __init__(
        self,
        target: str,
        api_key: str,
        *,
        timeout: float = 5.0,
        retries: int = 2,
        backoff: float = 0.1,
        retry_budget: RetryBudget | None = None,
        credentials: grpc.ChannelCredentials | None = None,
    ) -> None:
        """`retries`: most retries of one call (it makes at most `retries + 1` attempts);
        `backoff`: first delay when the server sends no RetryInfo; `retry_budget`: the
        retries allowed across calls, this client's own unless one is shared."""
        self.target = target
        self._metadata = (("authorization", f"Bearer {api_key}"),)
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.retry_budget = retry_budget or RetryBudget()
        self._credentials = credentials
        self._channel: grpc.aio.Channel | None = None
        self._stub: pb_grpc.SentimentServiceStub | None = None

    async def __aenter__(self) -> SentimentClient:
        self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def open(self) -> None:
        """Create the channel (inside the running loop)."""
        if self._credentials is None:
            self._channel = grpc.aio.insecure_channel(self.target)
        else:
            self._channel = grpc.aio.secure_channel(self.target, self._credentials)
        self._stub = pb_grpc.SentimentServiceStub(self._channel)

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close()
            self._channel = None

    @property
    def stub(self) -> pb_grpc.SentimentServiceStub:
        if self._stub is None:
            raise RuntimeError("open() the client (or use it as an async context manager)")
        return self._stub

    async def predict(
        self,
        text: str,
        *,
        request_id: str = "",
        model: str = "",
        timeout: float | None = None,
        truncation: Truncation | None = None,
    ) -> pb.PredictResponse:
        """Classify `text`; `truncation` cuts it when over the token limit (None: refuse)."""
        request = pb.PredictRequest(
            text=text,
            request_id=request_id or _new_id(),
            model=model,
            truncation=truncation_value(truncation),
        )
        metadata = self._call_metadata(request.request_id)
        return await self._retrying(
            lambda t: self.stub.Predict(request, timeout=t, metadata=metadata), timeout
        )

    async def predict_batch(
        self,
        texts: list[str],
        *,
        request_id: str = "",
        model: str = "",
        timeout: float | None = None,
        truncation: Truncation | None = None,
    ) -> pb.PredictBatchResponse:
        """Classify `texts` in one call; `truncation` applies to each text."""
        request = pb.PredictBatchRequest(
            texts=texts,
            request_id=request_id or _new_id(),
            model=model,
            truncation=truncation_value(truncation),
        )
        metadata = self._call_metadata(request.request_id)
        return await self._retrying(
            lambda t: self.stub.PredictBatch(request, timeout=t, metadata=metadata), timeout
        )

    async def predict_stream(
        self, requests: AsyncIterable[pb.PredictStreamRequest], *, timeout: float | None = None
    ) -> AsyncIterator[pb.PredictStreamResponse]:
        """One response per request, in order (a stream is not retried). Each request
        carries its own `truncation` (`truncation_value("head")`, say)."""
        call = self.stub.PredictStream(
            requests, timeout=timeout or self.timeout, metadata=self._metadata
        )
        async for response in call:
            yield response

    def _call_metadata(self, request_id: str) -> tuple[tuple[str, str], ...]:
        """The key, and the request id as `x-request-id`: the gateway checks the key before
        it reads the message, so a refused attempt is audited under this id only if the
        metadata names it."""
        return (*self._metadata, (REQUEST_ID_METADATA, request_id))

    async def _retrying(self, call: Callable[[float], Awaitable[T]], timeout: float | None) -> T:
        deadline = time.monotonic() + (timeout or self.timeout)
        self.retry_budget.record_call()
        attempt = 0
        while True:
            attempt += 1
            remaining = deadline - time.monotonic()
            try:
                return await call(max(remaining, 0.001))
            except grpc.aio.AioRpcError as err:
                if attempt > self.retries:
                    raise
                retry_after = error_details(err).retry_after
                wait = retry_delay(err.code(), retry_after, attempt, self.backoff)
                if wait is None or deadline - time.monotonic() <= wait:
                    raise
                if not self.retry_budget.try_spend():
                    raise
                await asyncio.sleep(wait)


REQUEST_ID_METADATA = "x-request-id"


def truncation_value(truncation: Truncation | None) -> pb.Truncation.ValueType:
    """The sentiment.v1.Truncation of a choice; None leaves the field unset (refuse)."""
    if truncation is None:
        return pb.TRUNCATION_UNSPECIFIED
    if truncation not in TRUNCATIONS:
        raise ValueError(f"truncation must be one of {sorted(TRUNCATIONS)}, not {truncation!r}")
    return TRUNCATIONS[truncation]


def _new_id() -> str:
    return uuid.uuid4().hex
