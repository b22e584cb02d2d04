"""The core of the gateway: auth -> decode -> rate limit -> validation -> Triton -> audit.

Transport-free: the servicer hands in the request's bytes with their decoder (an
`EncodedRequest`) and the call's metadata, peer and deadline, and gets predictions back
or a GatewayError. The caller is authenticated from metadata alone before anything else
is done with the request: a caller without a valid key costs a key-table look-up and a
small audit record (peer, method, size, reason; no texts), and a peer that keeps failing
is told to back off (RESOURCE_EXHAUSTED with RetryInfo). Texts are decoded, counted
against the key's rate and only then tokenized (off the event loop when they are long).
Every request, refused ones included, is appended to the audit log; a successful one only
returns once its record is durable.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from gateway.core.auth import Authenticator
from gateway.core.context import current_call
from gateway.core.contracts import (
    AuditLog,
    AuditRecord,
    Caller,
    DriftSample,
    DriftSink,
    InferenceBackend,
    ModelInfo,
    PersistenceUnavailable,
    Prediction,
    Route,
    to_predictions,
)
from gateway.core.errors import (
    AuthenticationError,
    DatabaseUnavailable,
    GatewayError,
    InternalError,
    PermissionDeniedError,
    RateLimited,
    StreamLimitExceeded,
    ValidationError,
)
from gateway.core.ratelimit import InFlightLimiter, KeyedInFlightLimiter, TokenBucketLimiter
from gateway.core.rollout import RolloutFollower
from gateway.core.shadow import ShadowCall, ShadowRunner
from gateway.core.text import OFFLOAD_CHARS, TextAnalyzer
from gateway.core.validation import (
    REQUEST_ID,
    Limits,
    RawRequest,
    UndecodableRequest,
    ValidRequest,
    validate_request,
)
from telemetry import tracing

log = logging.getLogger(__name__)


REQUEST_ID_METADATA = "x-request-id"
"""Metadata naming the call's request id before its message is decoded (the only id a
refusal before authentication can record)."""


@dataclass(frozen=True)
class CallInfo:
    """What the transport knows about a call: its method, metadata, peer and time left."""

    method: str
    metadata: Mapping[str, str]
    deadline: float | None
    """The caller's deadline as a time.monotonic() value; None when it set none."""
    peer: str = ""
    """The caller's address as gRPC reports it (`ipv4:10.0.0.7:51234`)."""

    @property
    def peer_host(self) -> str:
        """The peer without its port: what refusals before authentication are limited by."""
        return self.peer.rpartition(":")[0] or self.peer


@dataclass(frozen=True)
class EncodedRequest:
    """A request message as received: decoded only once its caller is authenticated."""

    size: int
    decode: Callable[[], RawRequest | UndecodableRequest]


@dataclass
class Attempt:
    """One call as the service learns about it, for its audit record."""

    call: CallInfo
    request_id: str
    texts: list[str]
    request_bytes: int | None = None
    caller: Caller | None = None
    """Set once the API key is verified."""
    received: datetime = field(default_factory=lambda: datetime.now(UTC))
    audit_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    """The gateway's own id of this attempt: its audit record's key, sent back to the
    caller (response field and `x-audit-id` trailer) and named in log lines."""
    route: Route | None = None
    """Where the call was sent upstream, once it was."""

    def record(
        self, status: str, error: str | None = None, predictions: Sequence[Prediction] = ()
    ) -> AuditRecord:
        """The attempt's outcome: `status` is a gRPC status code name (`OK`, ...)."""
        return AuditRecord(
            audit_id=self.audit_id,
            request_id=self.request_id,
            method=self.call.method,
            key_id=self.caller.key_id if self.caller else None,
            received_at=self.received,
            completed_at=datetime.now(UTC),
            status=status,
            error=error,
            texts=list(self.texts),
            text_sha256=[hashlib.sha256(t.encode()).hexdigest() for t in self.texts],
            predictions=list(predictions),
            peer=self.call.peer or None,
            request_bytes=self.request_bytes,
            model_version=self.route.version or None if self.route else None,
        )


@dataclass(frozen=True)
class PredictionResult:
    request_id: str
    predictions: list[Prediction]
    model: ModelInfo
    audit_id: str = ""
    """The audit id of the attempt that produced this result."""


@dataclass(frozen=True)
class StreamLimits:
    """How long a stream may wait for its next message, live in all, and how many messages
    it may carry: a stream that is opened and left (or fed forever) cannot hold a slot,
    a task and its connection for ever."""

    idle_timeout_s: float = 60.0
    max_lifetime_s: float = 3600.0
    max_messages: int = 100_000


class RefusalHold:
    """Answers a refusal past its peer's budget after the delay its RetryInfo names.

    A caller that honours RetryInfo waits that long anyway; one that sends again at once,
    from as many concurrent calls as it likes, gets one answer per delay and call instead
    of as many as the gateway can produce: its refusals stop costing the event loop the
    time honest callers need. A held call costs a sleeping task and its request message;
    at most `max_calls` are held, the rest are answered at once.
    """

    def __init__(self, max_seconds: float = 1.0, max_calls: int = 256) -> None:
        self.max_seconds = max_seconds
        self.max_calls = max_calls
        self.holding = 0

    async def wait(self, retry_after: float) -> None:
        delay = min(retry_after, self.max_seconds)
        if delay <= 0 or self.holding >= self.max_calls:
            return
        self.holding += 1
        try:
            await asyncio.sleep(delay)
        finally:
            self.holding -= 1


@dataclass
class PredictionService:
    """The dataplane: one instance per server, shared by every call."""

    limits: Limits
    analyzer: TextAnalyzer
    authenticator: Authenticator
    rate_limiter: TokenBucketLimiter
    refusal_limiter: TokenBucketLimiter
    """Failed authentications per peer host."""
    in_flight: InFlightLimiter
    key_in_flight: KeyedInFlightLimiter
    triton: InferenceBackend
    audit: AuditLog
    drift: DriftSink
    should_sample: Callable[[str], bool]
    """Deterministic choice of the requests whose features go to the drift table."""
    labels: list[str]
    default_timeout: float = 10.0
    stream_window: int = 16
    stream_limits: StreamLimits = field(default_factory=StreamLimits)
    refusal_hold: RefusalHold = field(default_factory=RefusalHold)
    on_drift_sample: Callable[[int], None] = lambda count: None
    rollout: RolloutFollower | None = None
    """The rollout state calls are routed by (None: Triton's one loaded version)."""
    shadow: ShadowRunner | None = None
    """Where copies for a shadow rollout's candidate go."""
    on_version_call: Callable[[str, str, bool, float], None] = lambda m, v, ok, s: None
    """(model, version, ok, seconds) of each upstream call: per-version metrics."""
    _background: set[asyncio.Task[None]] = field(default_factory=set)

    async def predict(
        self, encoded: EncodedRequest, call: CallInfo, caller: Caller | None = None
    ) -> PredictionResult:
        """Serve one request or raise the GatewayError the client should see.

        `caller`: the stream's caller, authenticated when the stream opened.
        """
        attempt = Attempt(call, _metadata_request_id(call), [], request_bytes=encoded.size)
        deadline = call.deadline or time.monotonic() + self.default_timeout
        current_call.set(f"request {attempt.request_id} audit {attempt.audit_id}")
        try:
            # Outside the in-flight slots: a caller whose made-up key id waits for a key
            # table reload must not hold a slot an honest caller needs meanwhile.
            attempt.caller = caller or await self.authenticate(call)
            with self.in_flight.slot(), self.key_in_flight.slot(attempt.caller.key_id):
                raw = encoded.decode()
                if isinstance(raw, UndecodableRequest):
                    raise raw.error
                attempt.texts = raw.texts
                if REQUEST_ID.fullmatch(raw.request_id):
                    attempt.request_id = raw.request_id
                    current_call.set(f"request {attempt.request_id} audit {attempt.audit_id}")
                self.rate_limiter.acquire(attempt.caller.key_id, max(len(raw.texts), 1))
                request = await self._validate(raw, attempt.request_id)
                result = await self._infer(request, deadline, attempt)
                await self._audit(attempt.record("OK", predictions=result.predictions))
                self._shadow(attempt, request, result)
        except GatewayError as error:
            error.audit_id = attempt.audit_id
            await self._audit_refusal(attempt.record(error.code.name, error.message))
            raise
        except asyncio.CancelledError:
            # The caller went away (or the server cancelled the call): still an outcome.
            with contextlib.suppress(Exception):
                await asyncio.shield(self.audit.append(attempt.record("CANCELLED", "cancelled")))
            raise
        except Exception as error:
            log.exception(
                "unexpected error serving request %s (audit %s)",
                attempt.request_id,
                attempt.audit_id,
            )
            internal = InternalError()
            internal.audit_id = attempt.audit_id
            await self._audit_refusal(attempt.record(internal.code.name, internal.message))
            raise internal from error
        self._sample(request, result)
        return result

    @tracing.traced("sentiment.auth")
    async def authenticate(self, call: CallInfo) -> Caller:
        """The call's caller from its metadata. A peer past its budget of failed
        authentications gets RateLimited (RESOURCE_EXHAUSTED with RetryInfo: back off)
        instead; a valid key from the same address is never refused for it."""
        try:
            return await self.authenticator.authenticate(call.metadata)
        except (AuthenticationError, PermissionDeniedError) as error:
            try:
                self.refusal_limiter.acquire(call.peer_host)
            except RateLimited as limited:
                await self.refusal_hold.wait(limited.retry_after)
                raise limited from error
            raise

    async def _validate(self, raw: RawRequest, request_id: str) -> ValidRequest:
        # Only a sampled request's texts need their drift features (`_sample`).
        features = self.should_sample(request_id)
        # Long texts are tokenized on a worker thread (and release the GIL there, see
        # TextAnalyzer.analyze): texts have no character limit, only the message size.
        if sum(len(text) for text in raw.texts) <= OFFLOAD_CHARS:
            return validate_request(raw, self.limits, self.analyzer, request_id, features)
        return await asyncio.to_thread(
            validate_request, raw, self.limits, self.analyzer, request_id, features
        )

    async def predict_stream(
        self, requests: AsyncIterator[EncodedRequest], call: CallInfo
    ) -> AsyncIterator[PredictionResult]:
        """Serve a stream: authenticated when it opens, before any message is read; then up
        to `stream_window` messages at once, answers in order.

        Reading runs in its own task so a client that waits for each answer before sending
        the next message is served too. The first error ends the stream.
        """
        caller = await self._open_stream(call)
        queue: asyncio.Queue[asyncio.Task[PredictionResult] | BaseException | None]
        queue = asyncio.Queue(self.stream_window)
        limits = self.stream_limits
        ends = time.monotonic() + limits.max_lifetime_s

        async def next_message(messages: AsyncIterator[EncodedRequest]) -> EncodedRequest:
            left = ends - time.monotonic()
            wait = min(limits.idle_timeout_s, left)
            try:
                return await asyncio.wait_for(anext(messages), max(wait, 0.0))
            except TimeoutError:
                if wait < limits.idle_timeout_s:
                    raise StreamLimitExceeded(
                        f"stream open longer than {limits.max_lifetime_s:g}s; open a new one"
                    ) from None
                raise StreamLimitExceeded(
                    f"no message for {limits.idle_timeout_s:g}s; stream closed"
                ) from None

        async def read() -> None:
            messages = aiter(requests)
            count = 0
            try:
                while True:
                    try:
                        encoded = await next_message(messages)
                    except StopAsyncIteration:
                        break
                    count += 1
                    if count > limits.max_messages:
                        raise StreamLimitExceeded(
                            f"over {limits.max_messages} messages; open a new stream"
                        )
                    await queue.put(asyncio.create_task(self.predict(encoded, call, caller)))
            except StreamLimitExceeded as err:
                await self._refuse_stream(call, caller, err)
                await queue.put(err)
            except Exception as err:
                await queue.put(err)
            else:
                await queue.put(None)

        reader = asyncio.create_task(read())
        try:
            while (item := await queue.get()) is not None:
                if isinstance(item, BaseException):
                    raise item
                yield await item
        finally:
            reader.cancel()
            while not queue.empty():
                leftover = queue.get_nowait()
                if isinstance(leftover, asyncio.Task):
                    leftover.cancel()

    async def _open_stream(self, call: CallInfo) -> Caller:
        try:
            return await self.authenticate(call)
        except GatewayError as error:
            await self._refuse_stream(call, None, error)
            raise

    async def _refuse_stream(
        self, call: CallInfo, caller: Caller | None, error: GatewayError
    ) -> None:
        """Audit the end of a stream refused as a whole (at open, or past its limits)."""
        attempt = Attempt(call, _metadata_request_id(call), [], caller=caller)
        error.audit_id = attempt.audit_id
        await self._audit_refusal(attempt.record(error.code.name, error.message))

    async def close(self) -> None:
        """Wait for pending drift writes."""
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)

    @tracing.traced("sentiment.triton")
    async def _infer(
        self, request: ValidRequest, deadline: float, attempt: Attempt
    ) -> PredictionResult:
        state = self.rollout.state if self.rollout is not None else None
        route = state.route(request.request_id) if state is not None else Route("")
        attempt.route = route
        started = time.perf_counter()
        try:
            # Triton gets the audit id as its request id: one id per attempt in both logs.
            raw, info = await self.triton.infer(
                request.model,
                request.texts,
                attempt.audit_id,
                deadline,
                batch=len(request.texts) > 1,
                truncation=request.truncation,
                version=route.version,
            )
        except GatewayError as error:
            if not isinstance(error, ValidationError):  # the texts' fault, not the version's
                self._version_call(request.model, route.version, False, started)
            raise
        self._version_call(request.model, info.version, True, started)
        predictions = to_predictions(raw, info, self.labels, request.truncated)
        return PredictionResult(request.request_id, predictions, info, attempt.audit_id)

    def _version_call(self, model: str, version: str, ok: bool, started: float) -> None:
        seconds = time.perf_counter() - started
        if self.rollout is not None:
            self.rollout.record(version, ok, seconds)
        self.on_version_call(model, version, ok, seconds)

    def _shadow(self, attempt: Attempt, request: ValidRequest, result: PredictionResult) -> None:
        route, state = attempt.route, self.rollout.state if self.rollout else None
        if not route or not route.shadow or self.shadow is None or state is None:
            return
        self.shadow.submit(
            ShadowCall(
                audit_id=attempt.audit_id,
                rollout_id=state.rollout_id or 0,
                model=request.model,
                served_version=result.model.version,
                candidate=route.shadow,
                texts=request.texts,
                truncation=request.truncation,
                answered=result.predictions,
            )
        )

    @tracing.traced("sentiment.audit")
    async def _audit(self, record: AuditRecord) -> None:
        """Make an answered call's record durable: the answer waits for it."""
        _trace(record)
        try:
            await self.audit.append(record)
        except PersistenceUnavailable as err:
            log.error("audit append failed for %s: %s", record.request_id, err)
            raise DatabaseUnavailable("audit log unavailable; retry later") from err

    @tracing.traced("sentiment.audit")
    async def _audit_refusal(self, record: AuditRecord) -> None:
        # The client gets the original error whatever happens here.
        _trace(record)
        try:
            await self.audit.append(record)
        except Exception as err:
            log.warning("could not audit refused request %s: %s", record.request_id, err)

    def _sample(self, request: ValidRequest, result: PredictionResult) -> None:
        if not request.features or request.analyzed is None:
            return  # not sampled (`_validate` asked should_sample once)
        now = datetime.now(UTC)
        samples = [
            DriftSample(request.request_id, index, now, analyzed.features, prediction)
            for index, (analyzed, prediction) in enumerate(
                zip(request.analyzed, result.predictions, strict=True)
            )
        ]
        task = asyncio.create_task(self._store_samples(samples))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _store_samples(self, samples: list[DriftSample]) -> None:
        try:
            await self.drift.add(samples)
            self.on_drift_sample(len(samples))
        except Exception:
            log.exception("drift samples for %s were not stored", samples[0].request_id)


def _metadata_request_id(call: CallInfo) -> str:
    """The request id of `x-request-id` metadata when valid, else a new one (replaced by
    the message's own once it is decoded)."""
    sent = call.metadata.get(REQUEST_ID_METADATA, "")
    return sent if REQUEST_ID.fullmatch(sent) else uuid.uuid4().hex


def _trace(record: AuditRecord) -> None:
    """A call's ids and outcome on its audit span and on the call's span (a stream's
    messages: on their audit spans only). The key's id, never the key."""
    if not tracing.enabled():
        return
    attributes: dict[str, str | int] = {
        "sentiment.request_id": record.request_id,
        "sentiment.audit_id": record.audit_id,
        "sentiment.text_count": len(record.text_sha256),
        "sentiment.outcome": record.status,
    }
    if record.key_id:
        attributes["sentiment.key_id"] = record.key_id
    if record.predictions:
        attributes["sentiment.model.name"] = record.predictions[0].model_name
        attributes["sentiment.model.version"] = record.predictions[0].model_version
    tracing.annotate(attributes)
    tracing.annotate_call(attributes)
