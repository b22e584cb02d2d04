"""asyncio gRPC clients of the served paths: Triton's text-in models and the gateway.

`ServedClients` opens one tritonclient.grpc.aio client and one gateway channel inside the
running loop; `triton(model)` and `gateway()` return one-text-per-call coroutines for
`benchmarks.load.run_concurrent`. `refusal()` names an INVALID_ARGUMENT answer (long texts
over the served limit) so the bench can report it instead of failing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import numpy as np

from api.generated.sentiment.v1 import sentiment_pb2 as pb
from api.generated.sentiment.v1 import sentiment_pb2_grpc as pb_grpc

TEXT_INPUT = "TEXT"
OUTPUTS = ("LABEL", "SCORE", "PROBABILITIES")
TIMEOUT_S = 60.0

Call = Callable[[str], Awaitable[Any]]


class ServedClients:
    """The bench's clients of Triton and the gateway (create inside the event loop)."""

    def __init__(self, triton_url: str, gateway_url: str, api_key: str) -> None:
        import grpc
        import tritonclient.grpc.aio as triton_aio

        self._triton = triton_aio.InferenceServerClient(triton_url)
        self._channel = grpc.aio.insecure_channel(gateway_url)
        self._stub = pb_grpc.SentimentServiceStub(self._channel)
        self._metadata = (("authorization", f"Bearer {api_key}"),)

    def triton(self, model: str) -> Call:
        """One text per call to a text-in Triton model (TEXT [1,1] BYTES)."""
        from tritonclient.grpc import InferInput, InferRequestedOutput

        outputs = [InferRequestedOutput(name) for name in OUTPUTS]

        async def call(text: str) -> Any:
            tensor = InferInput(TEXT_INPUT, [1, 1], "BYTES")
            tensor.set_data_from_numpy(np.array([[text.encode()]], dtype=np.object_))
            return await self._triton.infer(
                model, [tensor], outputs=outputs, client_timeout=TIMEOUT_S
            )

        return call

    def gateway(self) -> Call:
        """One text per gateway Predict call."""

        async def call(text: str) -> Any:
            request = pb.PredictRequest(text=text)
            return await self._stub.Predict(request, metadata=self._metadata, timeout=TIMEOUT_S)

        return call

    async def labels(self, model: str, texts: Sequence[str], concurrency: int = 16) -> list[str]:
        """Triton's LABEL for each text (in order), `concurrency` calls at a time."""
        import asyncio

        call = self.triton(model)
        answers: list[str] = [""] * len(texts)
        indices = list(range(len(texts)))[::-1]

        async def worker() -> None:
            while indices:
                index = indices.pop()
                result = await call(texts[index])
                value = result.as_numpy("LABEL").reshape(-1)[0]
                answers[index] = value.decode() if isinstance(value, bytes) else str(value)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return answers

    async def server_version(self) -> str:
        metadata = await self._triton.get_server_metadata()
        return str(metadata.version)

    async def model_ready(self, model: str) -> bool:
        try:
            return bool(await self._triton.is_model_ready(model))
        except Exception:  # an unknown model is an error answer, not "not ready"
            return False

    async def close(self) -> None:
        await self._channel.close()
        await self._triton.close()


def refusal(error: BaseException) -> str | None:
    """'INVALID_ARGUMENT: <message>' when Triton refused the request as invalid, else None."""
    status = str(getattr(error, "status", lambda: "")() or "")
    message = str(getattr(error, "message", lambda: "")() or error)
    if "INVALID_ARGUMENT" in status or "INVALID_ARGUMENT" in message.upper():
        return f"INVALID_ARGUMENT: {message.splitlines()[0][:200]}"
    return None
