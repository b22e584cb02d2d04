"""The gateway's one connection to Triton (tritonclient.grpc.aio, one shared channel).

Every call gets the caller's remaining time minus a margin; UNAVAILABLE is retried with
exponential backoff while time remains; tritonclient errors become gateway errors here.
The model's version and MLflow run id come from its config `parameters` (written there at
export) and are cached for `info_ttl` seconds so a newly published version shows up.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import tritonclient.grpc.aio as triton_aio
from tritonclient.grpc import InferInput, InferRequestedOutput
from tritonclient.utils import InferenceServerException

from gateway.core.contracts import ModelInfo, RawPrediction
from gateway.core.errors import (
    DeadlineExceeded,
    FieldViolation,
    GatewayError,
    InternalError,
    ModelUnavailable,
    ValidationError,
)

log = logging.getLogger(__name__)

OUTPUTS = ("LABEL", "SCORE", "PROBABILITIES")
TEXT_INDEX = re.compile(r"TEXT\[(\d+)\]")
INT32_MAX = 2**31 - 1
CHANNEL_OPTIONS = [
    # tritonclient's own defaults (passing channel_args replaces them all) ...
    ("grpc.max_send_message_length", INT32_MAX),
    ("grpc.max_receive_message_length", INT32_MAX),
    ("grpc.keepalive_time_ms", INT32_MAX),
    ("grpc.keepalive_timeout_ms", 20_000),
    ("grpc.keepalive_permit_without_calls", False),
    ("grpc.http2.max_pings_without_data", 2),
    # ... plus: spread calls over every address a name resolves to (several Triton
    # replicas behind one DNS name), instead of pick_first's single connection.
    ("grpc.lb_policy_name", "round_robin"),
]


def channel_target(url: str) -> str:
    """`host:port` as a `dns:///` target (re-resolved, every address); others as given."""
    if "://" in url or url.startswith(("dns:", "unix:", "ipv4:", "ipv6:")):
        return url
    return f"dns:///{url}"


def _status(error: InferenceServerException) -> str:
    return (error.status() or "").rsplit(".", 1)[-1]


def translate(error: InferenceServerException, batch: bool) -> GatewayError:
    """A tritonclient error as a gateway error (client-safe message)."""
    status, message = _status(error), error.message() or ""
    if status == "UNAVAILABLE" or "not ready" in message or "unknown model" in message:
        return ModelUnavailable("model server unavailable; retry later")
    if status == "DEADLINE_EXCEEDED":
        return DeadlineExceeded("deadline exceeded waiting for the model")
    if status == "INVALID_ARGUMENT":
        # The tokenizer step names the bad text as TEXT[i]; map it to our field names.
        match = TEXT_INDEX.search(message)
        field = "text" if not batch else f"texts[{match.group(1)}]" if match else "texts"
        return ValidationError([FieldViolation(field, "rejected by the model's tokenizer")])
    log.error("Triton error %s: %s", status, message)
    return InternalError()


class TritonClient:
    """Inference and model metadata over one channel; create inside the running loop."""

    def __init__(
        self,
        url: str,
        *,
        retries: int = 3,
        backoff: float = 0.05,
        margin: float = 0.02,
        info_ttl: float = 30.0,
        observe: Callable[[str, float], None] | None = None,
    ) -> None:
        self._client = triton_aio.InferenceServerClient(
            channel_target(url), channel_args=CHANNEL_OPTIONS
        )
        self._outputs = [InferRequestedOutput(name) for name in OUTPUTS]
        self._retries = retries
        self._backoff = backoff
        self._margin = margin
        self._info_ttl = info_ttl
        self._observe = observe
        self._info: dict[str, tuple[float, ModelInfo]] = {}

    async def close(self) -> None:
        await self._client.close()

    async def ready(self, model: str, timeout: float = 2.0) -> bool:
        """True when Triton answers that `model` is ready."""
        try:
            return bool(await self._client.is_model_ready(model, client_timeout=timeout))
        except Exception:
            return False

    async def model_info(self, model: str, deadline: float) -> ModelInfo:
        cached = self._info.get(model)
        now = time.monotonic()
        if cached is not None and cached[0] > now:
            return cached[1]
        config = await self._call(
            lambda timeout: self._client.get_model_config(
                model, as_json=True, client_timeout=timeout
            ),
            deadline,
            batch=False,
        )
        parameters = config.get("config", {}).get("parameters", {})

        def parameter(name: str) -> str:
            return str(parameters.get(name, {}).get("string_value", ""))

        info = ModelInfo(model, parameter("version"), parameter("mlflow_run_id"))
        self._info[model] = (now + self._info_ttl, info)
        return info

    async def infer(
        self, model: str, texts: list[str], request_id: str, deadline: float, batch: bool
    ) -> tuple[list[RawPrediction], ModelInfo]:
        """Classify `texts` before `deadline` (a time.monotonic() value)."""
        info = await self.model_info(model, deadline)
        data = np.empty((len(texts), 1), dtype=np.object_)
        data[:, 0] = [t.encode("utf-8") for t in texts]
        text = InferInput("TEXT", [len(texts), 1], "BYTES")
        text.set_data_from_numpy(data)
        outputs = self._outputs
        started = time.perf_counter()
        result = await self._call(
            lambda timeout: self._client.infer(
                model, [text], outputs=outputs, request_id=request_id, client_timeout=timeout
            ),
            deadline,
            batch=batch,
        )
        if self._observe is not None:
            self._observe(model, time.perf_counter() - started)
        labels = result.as_numpy("LABEL").reshape(-1)
        scores = result.as_numpy("SCORE").reshape(-1)
        probabilities = result.as_numpy("PROBABILITIES").reshape(len(texts), -1)
        if not info.version:
            info = ModelInfo(info.name, result.get_response().model_version, info.mlflow_run_id)
        predictions = [
            RawPrediction(
                label.decode() if isinstance(label, bytes) else str(label),
                float(score),
                [float(p) for p in row],
            )
            for label, score, row in zip(labels, scores, probabilities, strict=True)
        ]
        return predictions, info

    async def _call(self, call: Callable[[float], Any], deadline: float, batch: bool) -> Any:
        delay = self._backoff
        for attempt in range(self._retries + 1):
            timeout = deadline - time.monotonic() - self._margin
            if timeout <= 0:
                raise DeadlineExceeded("deadline too short for the model call")
            try:
                return await call(timeout)
            except InferenceServerException as err:
                error = translate(err, batch)
                retryable = isinstance(error, ModelUnavailable) and _status(err) == "UNAVAILABLE"
                if not retryable or attempt == self._retries:
                    raise error from err
                if deadline - time.monotonic() - self._margin <= delay:
                    raise error from err
                log.warning("Triton unavailable (attempt %d), retrying in %.3fs", attempt, delay)
                await asyncio.sleep(delay)
                delay *= 2
        raise AssertionError("unreachable")
