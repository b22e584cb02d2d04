"""Fixtures of the gateway tests: a real gateway (grpc.aio on a free port, real SQLite
persistence) run on its own event loop in a thread, so tests call it with plain
synchronous gRPC clients. Triton is absent, dead or a black hole unless a test brings
a real one (see test_end_to_end.py)."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import grpc
import pytest
from tokenizers import Tokenizer, models, pre_tokenizers, processors

from api.generated.sentiment.v1 import sentiment_pb2_grpc as pb_grpc
from config.settings import PipelineSettings
from config.triton import TritonSettings
from gateway.core.text import TextAnalyzer
from gateway.server import GatewayServer, open_persistence
from gateway.settings import ApiKeySettings, AuditSettings, GatewaySettings
from serving.tritonserver import TritonServer
from store.settings import DatabaseSettings

T = TypeVar("T")
WORDS = ["good", "bad", "movie", "great", "awful", "the", "a", "was", "film", "fun"]
MAX_LENGTH = 16


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def dead_triton_url() -> str:
    """An address where nothing listens (connection refused: Triton is down)."""
    return f"127.0.0.1:{free_port()}"


class BlackHole:
    """A TCP server that accepts connections and never answers (a hung Triton)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.url = f"127.0.0.1:{self.sock.getsockname()[1]}"

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def black_hole() -> Iterator[BlackHole]:
    hole = BlackHole()
    yield hole
    hole.close()


@pytest.fixture(scope="session")
def tokenizer_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny BERT-style WordPiece tokenizer laid out like a served tokenizer version."""
    version = tmp_path_factory.mktemp("tokenizer") / "1"
    folder = version / "tokenizer"
    folder.mkdir(parents=True)
    vocab = {t: i for i, t in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", *WORDS])}
    tokenizer = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)]
    )
    tokenizer.save(str(folder / "tokenizer.json"))
    (version / "pipeline.json").write_text(json.dumps({"max_length": MAX_LENGTH}))
    return folder


class RunningGateway:
    """A GatewayServer on its own loop in a thread, with SQLite persistence in `state`
    unless `database_url` is given; `audit`/`api_keys` override those settings' fields."""

    def __init__(
        self,
        settings: GatewaySettings,
        state: Path,
        analyzer: TextAnalyzer,
        database_url: str | None = None,
        audit: dict[str, Any] | None = None,
        api_keys: dict[str, Any] | None = None,
    ) -> None:
        self.settings = settings
        self.database = DatabaseSettings(state_dir=state, url=database_url)
        self.audit = AuditSettings(state_dir=state, **(audit or {}))
        self.api_keys = ApiKeySettings(
            state_dir=state, **{"refresh_interval_s": 0.0, **(api_keys or {})}
        )
        self.analyzer = analyzer
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def start(self) -> RunningGateway:
        self.thread.start()

        async def start() -> GatewayServer:
            persistence = await open_persistence(
                self.database, self.audit, self.api_keys, self.settings.drift_sample_rate
            )
            server = GatewayServer(self.settings, persistence, self.analyzer)
            await server.start()
            return server

        self.server = self.run(start())
        self.target = f"127.0.0.1:{self.server.port}"
        self.channel = grpc.insecure_channel(self.target)
        self.stub = pb_grpc.SentimentServiceStub(self.channel)
        return self

    def create_key(self, name: str) -> str:
        return str(self.server.persistence.keys.create(name).token)  # type: ignore[attr-defined]

    def revoke_key(self, name: str) -> None:
        self.server.persistence.keys.revoke(name)  # type: ignore[attr-defined]

    def stop(self) -> None:
        self.channel.close()
        self.run(self.server.stop(grace=2.0))
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


def gateway_settings(triton_url: str, **overrides: Any) -> GatewaySettings:
    host, port = triton_url.rsplit(":", 1)
    values: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": 0,
        "metrics_port": 0,
        "triton": TritonSettings(host=host, grpc_port=int(port)),
        "triton_retries": 0,
        "drift_sample_rate": 1.0,
        "health_poll_seconds": 0.2,
        "max_batch_texts": 4,
        "max_message_bytes": 4096,
    }
    values.update(overrides)
    return GatewaySettings(**values)


@pytest.fixture
def start_gateway(tokenizer_dir: Path, tmp_path: Path) -> Iterator[Any]:
    """Factory: start_gateway(triton_url, database_url=, audit={...}, api_keys={...},
    **settings) -> RunningGateway (stopped at the end)."""
    started: list[RunningGateway] = []

    def start(
        triton_url: str | None = None,
        database_url: str | None = None,
        audit: dict[str, Any] | None = None,
        api_keys: dict[str, Any] | None = None,
        analyzer: TextAnalyzer | None = None,
        **overrides: Any,
    ) -> RunningGateway:
        settings = gateway_settings(triton_url or dead_triton_url(), **overrides)
        state = tmp_path / f"state{len(started)}"
        analyzer = analyzer or TextAnalyzer.from_dir(tokenizer_dir)
        gateway = RunningGateway(settings, state, analyzer, database_url, audit, api_keys)
        started.append(gateway.start())
        return gateway

    yield start
    for gateway in started:
        gateway.stop()


@pytest.fixture
def gateway(start_gateway: Any) -> RunningGateway:
    """A gateway in front of a Triton that is down."""
    return start_gateway()  # type: ignore[no-any-return]


@pytest.fixture
def api_key(gateway: RunningGateway) -> str:
    return gateway.create_key("tests")


def auth(key: str) -> tuple[tuple[str, str]]:
    return (("authorization", f"Bearer {key}"),)


@pytest.fixture(scope="session")
def repository(
    tiny_run: Any,
    tiny_model_dir: Path,
    pipeline_settings: PipelineSettings,
    tmp_path_factory: pytest.TempPathFactory,
) -> Path:
    from export.golden import golden_texts
    from export.metadata import ModelSource
    from export.run import export_model_dir

    repo = tmp_path_factory.mktemp("gateway-e2e") / "model_repository"
    source = ModelSource(run_id=tiny_run.run_id)
    export_model_dir(tiny_model_dir, repo, golden_texts(pipeline_settings.data)[:32], source)
    return repo


SERVED_MODELS = ["sentiment_tokenizer", "sentiment_onnx", "sentiment_postprocess", "sentiment"]


def triton_server(
    repository: Path,
    work: Path,
    grpc_port: int | None = None,
    models: list[str] = SERVED_MODELS,
) -> TritonServer:
    """A real Triton on free ports (`grpc_port` if given) serving `models`."""
    return TritonServer(
        repository=repository,
        work_dir=work,
        http_port=free_port(),
        grpc_port=grpc_port or free_port(),
        metrics_port=free_port(),
        models=models,
        exit_timeout_s=2,
    )


@pytest.fixture(scope="session")
def triton(repository: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TritonServer]:
    with triton_server(repository, tmp_path_factory.mktemp("triton")) as server:
        yield server
