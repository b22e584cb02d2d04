"""The gateway's one connection to Triton (Triton's generated gRPC stub, see `connection`).

Every call gets the caller's remaining time minus a margin. A call reaches Triton at most
twice: the one retry is for a connection that failed before Triton answered (a task gone,
a connection cut), on another connection, while time remains. What Triton answered is
never retried here: a full queue becomes RESOURCE_EXHAUSTED, a model that is not ready
UNAVAILABLE, both with RetryInfo, so that callers retry within their own budget and one
overload does not multiply. gRPC errors become tritonclient's InferenceServerException (as
tritonclient raises them), and those become gateway errors here. The version
that answered is the one Triton names in its response; its MLflow run id comes from the
config parameter `mlflow_run_ids` (written there at export; the config is cached for
`info_ttl` seconds, and read again when an answer names a version it does not list).
"""

from __future__ import annotations

import asyncio
import logging
import re
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import grpc
from tritonclient.grpc import service_pb2
from tritonclient.utils import InferenceServerException

from contract.pipeline import TRUNCATION_PARAMETER
from contract.versions import RUN_IDS_PARAMETER, parse_run_ids
from gateway.core.contracts import ModelInfo, RawPrediction
from gateway.core.errors import (
    DeadlineExceeded,
    FieldViolation,
    GatewayError,
    InternalError,
    ModelOverloaded,
    ModelUnavailable,
    ValidationError,
)
from gateway.upstream.connection import TritonConnection, TritonStub, channel_options
from telemetry import tracing

log = logging.getLogger(__name__)

OUTPUTS = ("LABEL", "SCORE", "PROBABILITIES")
TEXT_INDEX = re.compile(r"TEXT\[(\d+)\]")
QUEUE_REFUSALS = ("Exceeds maximum queue size", "Request timeout expired")
"""Triton's answers (UNAVAILABLE) when a model's queue is full or a call waited in it past
the queue policy's timeout."""
NOT_SERVED = ("not ready", "unknown model", "[request id:")
"""Marks of an UNAVAILABLE that Triton itself answered (the model, not the connection)."""


@dataclass(frozen=True)
class RetryAfter:
    """The RetryInfo delays the gateway sends when Triton cannot take a call."""

    overloaded: float = 0.25
    unavailable: float = 1.0


def _status(error: InferenceServerException) -> str:
    return (error.status() or "").rsplit(".", 1)[-1]


def connection_failed(error: InferenceServerException) -> bool:
    """UNAVAILABLE before Triton answered: no connection, or the connection was lost."""
    message = error.message() or ""
    refused_by_triton = any(mark in message for mark in (*QUEUE_REFUSALS, *NOT_SERVED))
    return _status(error) == "UNAVAILABLE" and not refused_by_triton


def translate(
    error: InferenceServerException, batch: bool, retry_after: RetryAfter = RetryAfter()
) -> GatewayError:
    """A tritonclient error as a gateway error (client-safe message)."""
    status, message = _status(error), error.message() or ""
    if status == "RESOURCE_EXHAUSTED" or any(mark in message for mark in QUEUE_REFUSALS):
        return ModelOverloaded(retry_after.overloaded)
    if status == "UNAVAILABLE" or "not ready" in message or "unknown model" in message:
        return ModelUnavailable("model server unavailable; retry later", retry_after.unavailable)
    if status == "DEADLINE_EXCEEDED":
        return DeadlineExceeded("deadline exceeded waiting for the model")
    if status == "INVALID_ARGUMENT":
        # The tokenizer step names the bad text as TEXT[i]; map it to our field names.
        match = TEXT_INDEX.search(message)
        field = "text" if not batch else f"texts[{match.group(1)}]" if match else "texts"
        return ValidationError([FieldViolation(field, "rejected by the model's tokenizer")])
    log.error("Triton error %s: %s", status, message)
    return InternalError()


def bytes_tensor(values: list[bytes]) -> bytes:
    """A BYTES tensor's raw contents: each element as a 4-byte little-endian length and
    its bytes (Triton's serialization)."""
    return b"".join(struct.pack("<I", len(value)) + value for value in values)


def split_bytes_tensor(raw: bytes) -> list[bytes]:
    """The elements of a BYTES tensor's raw contents."""
    values, offset = [], 0
    while offset < len(raw):
        (size,) = struct.unpack_from("<I", raw, offset)
        offset += 4
        values.append(raw[offset : offset + size])
        offset += size
    return values


def infer_request(
    model: str,
    texts: list[str],
    request_id: str,
    version: str,
    truncation: str | None,
) -> service_pb2.ModelInferRequest:
    """The ModelInfer request of `texts` (TEXT [n, 1] BYTES) for the text-in outputs."""
    request = service_pb2.ModelInferRequest(model_name=model, model_version=version, id=request_id)
    request.inputs.add(name="TEXT", datatype="BYTES", shape=[len(texts), 1])
    request.raw_input_contents.append(bytes_tensor([t.encode("utf-8") for t in texts]))
    for name in OUTPUTS:
        request.outputs.add(name=name)
    if truncation is not None:
        request.parameters[TRUNCATION_PARAMETER].string_param = truncation
    return request


def read_outputs(response: service_pb2.ModelInferResponse, count: int) -> list[RawPrediction]:
    """The predictions of a ModelInfer response for `count` texts (FP32 little-endian,
    read with struct: numpy costs more than it saves on a handful of floats)."""
    raw = dict(zip((o.name for o in response.outputs), response.raw_output_contents, strict=True))
    labels = split_bytes_tensor(raw["LABEL"])
    scores = struct.unpack(f"<{count}f", raw["SCORE"])
    values = struct.unpack(f"<{len(raw['PROBABILITIES']) // 4}f", raw["PROBABILITIES"])
    if len(labels) != count or len(values) % count:
        raise InferenceServerException(
            f"Triton answered {len(labels)} labels for {count} texts", "StatusCode.INTERNAL"
        )
    width = len(values) // count
    return [
        RawPrediction(label.decode(), score, list(values[i * width : (i + 1) * width]))
        for i, (label, score) in enumerate(zip(labels, scores, strict=True))
    ]


def as_triton_error(error: grpc.aio.AioRpcError) -> InferenceServerException:
    """A gRPC error as tritonclient raises it (status `StatusCode.NAME`)."""
    return InferenceServerException(
        msg=error.details(), status=str(error.code()), debug_details=error.debug_error_string()
    )


class _Attempts:
    """The attempts one gateway call may still make upstream, its run_ids read included."""

    def __init__(self, limit: int) -> None:
        self.left = limit


class TritonClient:
    """Inference and model metadata over one renewed channel; create inside the running loop."""

    def __init__(
        self,
        url: str,
        *,
        retries: int = 1,
        backoff: float = 0.05,
        margin: float = 0.02,
        info_ttl: float = 30.0,
        retry_after: RetryAfter = RetryAfter(),
        keepalive: float = 10.0,
        keepalive_timeout: float = 5.0,
        channel_max_age: float = 60.0,
        observe: Callable[[str, float], None] | None = None,
    ) -> None:
        self.connection = TritonConnection(
            url, channel_options(keepalive, keepalive_timeout), channel_max_age
        )
        self._attempts = 1 + min(retries, 1)  # at most 2 upstream attempts per call
        self._backoff = backoff
        self._margin = margin
        self._info_ttl = info_ttl
        self._retry_after = retry_after
        self._observe = observe
        self._info: dict[str, tuple[float, dict[str, str]]] = {}

    async def close(self) -> None:
        await self.connection.close()

    async def ready(self, model: str, timeout: float = 2.0) -> bool:
        """True when Triton answers that `model` is ready."""
        try:
            async with self.connection.client() as client:
                request = service_pb2.ModelReadyRequest(name=model)
                return bool((await client.ModelReady(request, timeout=timeout)).ready)
        except Exception:
            return False

    async def run_ids(
        self, model: str, deadline: float, attempts: _Attempts | None = None
    ) -> dict[str, str]:
        """The MLflow run id of each of `model`'s versions, from its config (cached)."""
        cached = self._info.get(model)
        now = time.monotonic()
        if cached is not None and cached[0] > now:
            return cached[1]
        response = await self._call(
            lambda client, timeout: client.ModelConfig(
                service_pb2.ModelConfigRequest(name=model), timeout=timeout
            ),
            deadline,
            batch=False,
            attempts=attempts or _Attempts(self._attempts),
        )
        parameters = response.config.parameters

        def parameter(name: str) -> str:
            return parameters[name].string_value if name in parameters else ""

        runs = parse_run_ids(parameter(RUN_IDS_PARAMETER))
        version = parameter("version")
        if version and version not in runs and parameter("mlflow_run_id"):
            runs[version] = parameter("mlflow_run_id")  # a repository from before the map
        self._info[model] = (now + self._info_ttl, runs)
        return runs

    async def _run_id(self, model: str, version: str, runs: dict[str, str], deadline: float) -> str:
        """The MLflow run id of `version`. A version the cached config does not list (one
        published since) reads the config again, once: a version it still does not list
        has no run id until the cache expires."""
        if version in runs or not version:
            return runs.get(version, "")
        self._info.pop(model, None)
        try:
            fresh = await self.run_ids(model, deadline)
        except GatewayError:
            return ""
        return fresh.setdefault(version, "")

    async def infer(
        self,
        model: str,
        texts: list[str],
        request_id: str,
        deadline: float,
        batch: bool,
        truncation: str | None = None,
        version: str = "",
    ) -> tuple[list[RawPrediction], ModelInfo]:
        """Classify `texts` with model `version` ("": Triton's choice) before `deadline`
        (a time.monotonic() value). `truncation` goes to Triton as the request parameter
        `truncation` (absent: texts over the model's token limit are refused). The
        ModelInfo names the version Triton says answered."""
        attempts = _Attempts(self._attempts)
        runs = await self.run_ids(model, deadline, attempts)
        request = infer_request(model, texts, request_id, version, truncation)
        headers = tracing.inject()  # Triton continues the call's trace
        metadata = tuple(headers.items()) if headers else None
        started = time.perf_counter()
        response = await self._call(
            lambda client, timeout: client.ModelInfer(request, metadata=metadata, timeout=timeout),
            deadline,
            batch=batch,
            attempts=attempts,
        )
        if self._observe is not None:
            self._observe(model, time.perf_counter() - started)
        try:
            predictions = read_outputs(response, len(texts))
        except (KeyError, ValueError, struct.error, InferenceServerException) as err:
            log.error("Triton answered %s unreadably: %s", model, err)
            raise InternalError() from err
        answered = response.model_version or version
        info = ModelInfo(model, answered, await self._run_id(model, answered, runs, deadline))
        return predictions, info

    async def _call(
        self,
        call: Callable[[TritonStub, float], Any],
        deadline: float,
        batch: bool,
        attempts: _Attempts,
    ) -> Any:
        while True:
            timeout = deadline - time.monotonic() - self._margin
            if timeout <= 0:
                raise DeadlineExceeded("deadline too short for the model call")
            attempts.left -= 1
            try:
                async with self.connection.client() as client:
                    try:
                        return await call(client, timeout)
                    except grpc.aio.AioRpcError as rpc_error:
                        raise as_triton_error(rpc_error) from None
            except InferenceServerException as err:
                error = translate(err, batch, self._retry_after)
                if not connection_failed(err) or attempts.left <= 0:
                    raise error from err
                if deadline - time.monotonic() - self._margin <= self._backoff:
                    raise error from err
                log.warning("Triton connection failed (%s), retrying once", err.message())
                await asyncio.sleep(self._backoff)
