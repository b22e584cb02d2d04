"""Fixtures of the serving tests: the tiny model exported into a repository, one real
Triton server for the session, Triton clients for both protocols, offline references."""

from __future__ import annotations

import socket
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from tritonclient.utils import InferenceServerException, np_to_triton_dtype

from config.settings import PipelineSettings
from contract.layout import PIPELINE_FILE
from contract.pipeline import Pipeline, padding_length
from export.golden import golden_texts
from export.publish import PublishedVersion
from export.run import export_model_dir
from serving.tritonserver import TritonServer

PROTOCOLS = ("http", "grpc")


def free_ports(count: int) -> list[int]:
    """Ports the OS reports free right now (bound together so they differ)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def as_text_tensor(texts: Sequence[str | bytes]) -> np.ndarray:
    """A TEXT input ([n, 1] BYTES) from strings or raw bytes."""
    values = [t.encode("utf-8") if isinstance(t, str) else t for t in texts]
    return np.array(values, dtype=np.object_).reshape(-1, 1)


class TritonClient:
    """The same small API over tritonclient's HTTP and gRPC clients."""

    def __init__(self, protocol: str, url: str) -> None:
        if protocol == "http":
            import tritonclient.http as module
        else:
            import tritonclient.grpc as module  # type: ignore[no-redef]
        self.protocol = protocol
        self.module: Any = module
        self.window = 16
        """Most requests in flight at once (HTTP: connection pool size)."""
        kwargs = {"concurrency": self.window, "network_timeout": 60.0} if protocol == "http" else {}
        self.client: Any = module.InferenceServerClient(url, **kwargs)

    def _inputs(self, inputs: dict[str, np.ndarray], datatypes: dict[str, str]) -> list[Any]:
        tensors = []
        for name, array in inputs.items():
            datatype = datatypes.get(name) or np_to_triton_dtype(array.dtype)
            tensor = self.module.InferInput(name, list(array.shape), datatype)
            tensor.set_data_from_numpy(array)
            tensors.append(tensor)
        return tensors

    def infer(
        self,
        model: str,
        inputs: dict[str, np.ndarray],
        outputs: Sequence[str],
        datatypes: dict[str, str] | None = None,
        parameters: dict[str, str] | None = None,
    ) -> dict[str, np.ndarray]:
        """One request (with request `parameters`, if given); raises
        InferenceServerException on a server error."""
        result = self.client.infer(
            model,
            self._inputs(inputs, datatypes or {}),
            outputs=[self.module.InferRequestedOutput(name) for name in outputs],
            parameters=parameters,
        )
        return {name: result.as_numpy(name) for name in outputs}

    def infer_many(
        self, model: str, requests: Sequence[dict[str, np.ndarray]], outputs: Sequence[str]
    ) -> list[dict[str, np.ndarray] | InferenceServerException]:
        """All requests in flight at once (async API), results in request order."""
        wanted = [self.module.InferRequestedOutput(name) for name in outputs]
        if self.protocol == "http":
            pending = [
                self.client.async_infer(model, self._inputs(r, {}), outputs=wanted)
                for r in requests
            ]
            results: list[Any] = []
            for handle in pending:
                try:
                    results.append(handle.get_result())
                except InferenceServerException as err:
                    results.append(err)
        else:
            import queue
            import threading

            # Like the HTTP client's connection pool: a bounded number in flight, so a
            # loaded 2-core box does not hit the queue timeout (5 s) of the model configs.
            window = threading.BoundedSemaphore(self.window)
            done: queue.Queue[tuple[int, Any, Any]] = queue.Queue()

            def finished(index: int, result: Any, error: Any) -> None:
                window.release()
                done.put((index, result, error))

            for index, r in enumerate(requests):
                window.acquire()
                self.client.async_infer(
                    model,
                    self._inputs(r, {}),
                    callback=lambda result, error, i=index: finished(i, result, error),
                    outputs=wanted,
                )
            results = [None] * len(requests)
            for _ in requests:
                index, result, error = done.get(timeout=120)
                results[index] = error if error is not None else result
        return [
            r if isinstance(r, InferenceServerException) else {n: r.as_numpy(n) for n in outputs}
            for r in results
        ]

    def statistics(self, model: str) -> dict[str, int]:
        """Cumulative inference_count and execution_count of `model`."""
        if self.protocol == "http":
            stats = self.client.get_inference_statistics(model)["model_stats"][0]
        else:
            stats = self.client.get_inference_statistics(model, as_json=True)["model_stats"][0]
        return {
            "inference_count": int(stats.get("inference_count", 0)),
            "execution_count": int(stats.get("execution_count", 0)),
        }

    def close(self) -> None:
        self.client.close()


@dataclass(frozen=True)
class Offline:
    """What the model gives outside Triton, per golden text."""

    texts: list[str]
    input_ids: list[np.ndarray]
    """Token ids padded to the text's bucket (what the served tokenizer must return)."""
    attention_mask: list[np.ndarray]
    logits: np.ndarray
    """Eager PyTorch logits [n, 2]."""
    labels: list[str]


@pytest.fixture
def fresh_ports() -> list[int]:
    """Three free ports (HTTP, gRPC, metrics) for a server of one test's own."""
    return free_ports(3)


@pytest.fixture(scope="session")
def golden(pipeline_settings: PipelineSettings) -> list[str]:
    """256 SST-2 dev sentences (the export's golden set)."""
    return golden_texts(pipeline_settings.data)


@pytest.fixture(scope="session")
def serving_repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("serving") / "model_repository"


@pytest.fixture(scope="session")
def published(
    tiny_model_dir: Path, serving_repository: Path, golden: list[str]
) -> PublishedVersion:
    """The tiny model exported (real export pipeline, parity-gated) as version 1."""
    return export_model_dir(tiny_model_dir, serving_repository, golden[:64])


@pytest.fixture(scope="session")
def triton(
    published: PublishedVersion, serving_repository: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TritonServer]:
    """One real tritonserver (wheel binary, CPU configs) on free ports."""
    http, grpc, metrics = free_ports(3)
    server = TritonServer(
        repository=serving_repository,
        work_dir=tmp_path_factory.mktemp("triton"),
        http_port=http,
        grpc_port=grpc,
        metrics_port=metrics,
        exit_timeout_s=3,
    )
    with server:
        yield server


@pytest.fixture(scope="session")
def clients(triton: TritonServer) -> Iterator[dict[str, TritonClient]]:
    made = {
        "http": TritonClient("http", triton.http_url),
        "grpc": TritonClient("grpc", triton.grpc_url),
    }
    yield made
    for client in made.values():
        client.close()


@pytest.fixture(params=PROTOCOLS)
def client(request: pytest.FixtureRequest, clients: dict[str, TritonClient]) -> TritonClient:
    """The session's client of each protocol in turn."""
    return clients[request.param]


@pytest.fixture(scope="session")
def offline(tiny_model_dir: Path, golden: list[str]) -> Offline:
    """Eager-model references for the golden set."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    pipeline = Pipeline.read(tiny_model_dir / PIPELINE_FILE)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(tiny_model_dir).eval()
    input_ids, masks, logits = [], [], []
    for ids in tokenizer(golden)["input_ids"]:
        length = padding_length(len(ids), pipeline.length_buckets)
        padded = np.full((1, length), tokenizer.pad_token_id, dtype=np.int64)
        padded[0, : len(ids)] = ids
        mask = np.zeros((1, length), dtype=np.int64)
        mask[0, : len(ids)] = 1
        input_ids.append(padded)
        masks.append(mask)
        with torch.no_grad():
            logits.append(model(input_ids=torch.tensor([ids])).logits.numpy()[0])
    return Offline(golden, input_ids, masks, np.stack(logits), list(pipeline.labels))
