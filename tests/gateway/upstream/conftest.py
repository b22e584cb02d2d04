"""Fixtures of the upstream tests: a real Triton whose one model is slow and has a queue of
one (so concurrent calls overflow it), a gRPC proxy that counts the calls reaching Triton,
a TCP proxy whose connections can be frozen, a DNS server whose answers a test changes,
and small gRPC servers that answer Triton's readiness and config calls."""

from __future__ import annotations

import asyncio
import socket
import struct
import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import grpc
import pytest
from tritonclient.grpc import model_config_pb2, service_pb2, service_pb2_grpc

from serving.tritonserver import TritonServer
from tests.gateway.conftest import free_port, triton_server

MODEL_SECONDS = 0.5
"""How long the slow model takes per call (one at a time, one more queued)."""


def text_model_config(max_batch_size: int, extra: str = "") -> str:
    """The config of a Python `sentiment` with the text-in models' inputs and outputs."""
    return f"""
name: "sentiment"
backend: "python"
max_batch_size: {max_batch_size}
input [ {{ name: "TEXT" data_type: TYPE_STRING dims: [ 1 ] }} ]
output [
  {{ name: "LABEL" data_type: TYPE_STRING dims: [ 1 ] }},
  {{ name: "SCORE" data_type: TYPE_FP32 dims: [ 1 ] }},
  {{ name: "PROBABILITIES" data_type: TYPE_FP32 dims: [ 2 ] }}
]
instance_group [ {{ count: 1 kind: KIND_CPU }} ]
{extra}"""


SLOW_CONFIG = text_model_config(
    1, "dynamic_batching { default_queue_policy { max_queue_size: 1 } }\n"
)

SLOW_MODEL = f"""
import time

import numpy as np
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def execute(self, requests):
        responses = []
        for request in requests:
            n = pb_utils.get_input_tensor_by_name(request, "TEXT").as_numpy().shape[0]
            time.sleep({MODEL_SECONDS})
            responses.append(pb_utils.InferenceResponse([
                pb_utils.Tensor("LABEL", np.array([[b"positive"]] * n, dtype=np.object_)),
                pb_utils.Tensor("SCORE", np.full((n, 1), 0.9, dtype=np.float32)),
                pb_utils.Tensor(
                    "PROBABILITIES", np.tile(np.array([[0.1, 0.9]], dtype=np.float32), (n, 1))
                ),
            ]))
        return responses
"""


@pytest.fixture(scope="module")
def busy_triton(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TritonServer]:
    """A real Triton serving `sentiment`: a Python model that takes MODEL_SECONDS per call,
    one call at a time, with a queue of one; a third concurrent call is refused."""
    yield from python_model_triton(tmp_path_factory.mktemp("busy-triton"), SLOW_CONFIG, SLOW_MODEL)


def python_model_triton(root: Path, config: str, model: str) -> Iterator[TritonServer]:
    """A real Triton in `root` serving one Python model, `sentiment`, from `config` and
    `model` (its model.py), until the generator is closed."""
    version = root / "repository" / "sentiment" / "1"
    version.mkdir(parents=True)
    (version.parent / "config.pbtxt").write_text(config)
    (version / "model.py").write_text(model)
    with triton_server(root / "repository", root / "work", models=["sentiment"]) as server:
        yield server


class CountingProxy:
    """A gRPC proxy in front of Triton (or of nothing) that counts the calls it forwards,
    by method, and passes Triton's answers and errors back unchanged."""

    def __init__(self, upstream: str) -> None:
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._channel = grpc.insecure_channel(upstream)
        self._server = grpc.server(ThreadPoolExecutor(max_workers=16))
        self._server.add_generic_rpc_handlers((self,))
        self.url = f"127.0.0.1:{self._server.add_insecure_port('127.0.0.1:0')}"
        self._server.start()

    def service(self, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler:
        method = details.method
        forward = self._channel.unary_unary(method)

        def handle(request: bytes, context: grpc.ServicerContext) -> bytes:
            with self._lock:
                self.calls[method.rsplit("/", 1)[-1]] += 1
            try:
                return forward(request, timeout=context.time_remaining())
            except grpc.RpcError as err:
                context.abort(err.code(), err.details() or "")
                raise

        return grpc.unary_unary_rpc_method_handler(handle)

    def close(self) -> None:
        self._server.stop(None)
        self._channel.close()


@pytest.fixture
def counting_proxy() -> Iterator[Any]:
    """Factory: counting_proxy(upstream_url) -> CountingProxy (closed at the end)."""
    proxies: list[CountingProxy] = []

    def start(upstream: str) -> CountingProxy:
        proxies.append(CountingProxy(upstream))
        return proxies[-1]

    yield start
    for proxy in proxies:
        proxy.close()


class FreezableProxy:
    """A TCP proxy (on the running loop); `freeze()` stops every connection open at that
    moment from moving another byte, without closing it: a peer that vanished from the
    network. Connections made later pass."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.connections = 0
        self._open: set[int] = set()
        self._frozen: set[int] = set()

    async def start(self) -> FreezableProxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.url = f"127.0.0.1:{self._server.sockets[0].getsockname()[1]}"
        return self

    def freeze(self) -> None:
        self._frozen |= self._open

    async def close(self) -> None:
        self._server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        number = self.connections
        self._open.add(number)
        host, port = self.upstream.rsplit(":", 1)
        upstream_reader, upstream_writer = await asyncio.open_connection(host, int(port))

        async def pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            while data := await source.read(65536):
                if number in self._frozen:
                    await asyncio.Event().wait()  # hold the bytes, forever
                sink.write(data)
                await sink.drain()
            sink.close()

        try:
            await asyncio.gather(pump(reader, upstream_writer), pump(upstream_reader, writer))
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()
            upstream_writer.close()


class StaticDns:
    """A DNS server on 127.0.0.1 (UDP) answering every A question with `addresses` (TTL 0)
    and every other question with no record. grpc's resolver asks it when a target names
    it: `dns://127.0.0.1:<port>/<name>:<port>`."""

    def __init__(self, addresses: list[str]) -> None:
        self.addresses = addresses
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def target(self, name: str, port: int) -> str:
        return f"dns://127.0.0.1:{self.port}/{name}:{port}"

    def _serve(self) -> None:
        while True:
            try:
                query, peer = self._sock.recvfrom(4096)
            except OSError:
                return
            end = 12  # header; then the question's name, its type and class
            while query[end]:
                end += query[end] + 1
            (kind,) = struct.unpack("!H", query[end + 1 : end + 3])
            answers = list(self.addresses) if kind == 1 else []
            reply = struct.pack("!HHHHHH", int.from_bytes(query[:2]), 0x8180, 1, len(answers), 0, 0)
            reply += query[12 : end + 5]
            for address in answers:
                reply += struct.pack("!HHHIH", 0xC00C, 1, 1, 0, 4) + socket.inet_aton(address)
            self._sock.sendto(reply, peer)

    def close(self) -> None:
        self._sock.close()


@pytest.fixture
def dns() -> Iterator[StaticDns]:
    server = StaticDns([])
    yield server
    server.close()


class ReadyTriton(service_pb2_grpc.GRPCInferenceServiceServicer):
    """Answers Triton's model readiness and config calls, counting them."""

    def __init__(self) -> None:
        self.calls = 0

    async def ModelReady(self, request: Any, context: Any) -> Any:
        self.calls += 1
        return service_pb2.ModelReadyResponse(ready=True)

    async def ModelConfig(self, request: Any, context: Any) -> Any:
        self.calls += 1
        config = model_config_pb2.ModelConfig(name=request.name)
        return service_pb2.ModelConfigResponse(config=config)


async def start_ready_triton(address: str) -> tuple[grpc.aio.Server, ReadyTriton]:
    """A ReadyTriton on `address` (host:port), on the running loop."""
    servicer = ReadyTriton()
    server = grpc.aio.server()
    service_pb2_grpc.add_GRPCInferenceServiceServicer_to_server(servicer, server)
    server.add_insecure_port(address)
    await server.start()
    return server, servicer


def grpc_port_free_on(*hosts: str) -> int:
    """A port free on every one of `hosts` (loopback addresses)."""
    while True:
        port = free_port()
        try:
            for host in hosts:
                with socket.socket() as sock:
                    sock.bind((host, port))
        except OSError:
            continue
        return port
