"""Fixtures of the monitoring tests: the gateway suite's real Triton (tiny model) and a
real gateway in front of it, a real Prometheus scraping both (and the drift gauges), and
two windows of traffic through the gateway: SST-2 dev sentences, then text that differs."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from sqlalchemy import func, select

from api.generated.sentiment.v1 import sentiment_pb2 as pb
from config.settings import PipelineSettings
from gateway.core.text import TextAnalyzer
from monitoring.exporter import DriftMetrics
from serving.tritonserver import TritonServer
from store import make_engine
from store.models import DriftRow
from tests.gateway.conftest import (  # noqa: F401  (fixtures: the gateway suite's Triton)
    RunningGateway,
    auth,
    free_port,
    gateway_settings,
    repository,
    triton,
)

PROMETHEUS_DIR = Path(__file__).resolve().parents[2] / "monitoring" / "prometheus"
SST2_TEXTS = 160
"""SST-2 dev sentences sent as the no-drift window (the tiny reference holds 128)."""


def sst2_traffic(data: str) -> list[str]:
    """A seeded sample of SST-2 dev sentences: what the model was built for."""
    from training.data import load_sst2

    sentences = [s for s in load_sst2(data)["dev"]["sentence"] if s.strip()]
    order = np.random.default_rng(7).permutation(len(sentences))
    return [sentences[i] for i in order[:SST2_TEXTS]]


_FOREIGN = [
    "¡QUÉ PELÍCULA TAN {}! NO LA RECOMIENDO A NADIE, NUNCA MÁS 😡😡",
    "Ein {} Film über Größenwahn, überlänge und schöne Bilder — enttäuschend für mich",
    "C'était {} : très décevant, les acteurs récitent leur texte à côté de la caméra",
    "Ужасный фильм, {} и скучный, зря потратил два часа своей жизни",
    "Η ταινία ήταν {} και πολύ μεγάλη, δεν θα την ξαναδώ ποτέ 👎",  # noqa: RUF001
    "这部电影{}，演员很好但是故事太长了，我不推荐",  # noqa: RUF001
]
_WORDS = [
    "ABURRIDA",
    "großartiger",
    "magnifique",
    "глупый",
    "υπέροχη",
    "一般",
    "TERRIBLE",
    "étrange",
    "LENTÍSIMA",
    "öde",
]


def drifted_traffic(data: str, analyzer: TextAnalyzer, count: int = 120) -> list[str]:
    """Traffic unlike SST-2: half much longer texts (three dev sentences run together),
    half shouted or non-English short reviews with accents, other scripts and emoji."""
    from training.data import load_sst2

    sentences = [s for s in load_sst2(data)["dev"]["sentence"] if s.strip()]
    long_texts = []
    for i in range(0, len(sentences) - 3, 3):
        text = " ".join(sentences[i : i + 3])
        if analyzer.analyze([text])[0].model_tokens <= analyzer.max_length:
            long_texts.append(text)
        if len(long_texts) == count // 2:
            break
    foreign = [t.format(w) for w in _WORDS for t in _FOREIGN][: count - len(long_texts)]
    return [t for pair in zip(long_texts, foreign, strict=False) for t in pair]


@dataclass
class LiveStack:
    """Triton, gateway, drift gauges and Prometheus, all on free ports."""

    triton: TritonServer
    gateway: RunningGateway
    key: str
    drift_metrics: DriftMetrics
    drift_metrics_port: int
    prometheus_url: str
    database_url: str

    def send(self, texts: list[str], batch: int = 8) -> None:
        for start in range(0, len(texts), batch):
            request = pb.PredictBatchRequest(texts=texts[start : start + batch])
            self.gateway.stub.PredictBatch(request, metadata=auth(self.key), timeout=30)

    def stored_samples(self) -> int:
        engine = make_engine(self.database_url)
        try:
            with engine.connect() as connection:
                return int(connection.execute(select(func.count()).select_from(DriftRow)).scalar())
        finally:
            engine.dispose()

    def wait_for_samples(self, count: int, timeout: float = 30.0) -> None:
        """Drift samples are written off the request path: wait until `count` are stored."""
        deadline = time.monotonic() + timeout
        while self.stored_samples() < count:
            assert time.monotonic() < deadline, f"only {self.stored_samples()}/{count} stored"
            time.sleep(0.2)

    def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant PromQL query through Prometheus's HTTP API."""
        url = f"{self.prometheus_url}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        with urllib.request.urlopen(url, timeout=10) as answer:
            body = json.load(answer)
        assert body["status"] == "success", body
        return list(body["data"]["result"])


def prometheus_config(targets: dict[str, str], folder: Path) -> Path:
    """monitoring/prometheus/prometheus.yml with the targets replaced and 1 s intervals."""
    config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
    config["global"].update(scrape_interval="1s", evaluation_interval="1s")
    config["rule_files"] = [str(PROMETHEUS_DIR / f) for f in config["rule_files"]]
    for job in config["scrape_configs"]:
        job["static_configs"] = [{"targets": [targets[job["job_name"]]]}]
        job.pop("scrape_interval", None)
    path = folder / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    return path


def installed(tool: str) -> str:
    """The path of a Debian tool the monitoring tests need (fails, never skips, without)."""
    binary = shutil.which(tool)
    if binary is None:
        pytest.fail(f"{tool} not installed: run scripts/install-system-deps.sh")
    return binary


@pytest.fixture(scope="session")
def prometheus_binary() -> str:
    return installed("prometheus")


@pytest.fixture(scope="session")
def promtool() -> str:
    return installed("promtool")


@pytest.fixture(scope="session")
def live_stack(
    triton: TritonServer,  # noqa: F811
    repository: Path,  # noqa: F811
    prometheus_binary: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[LiveStack]:
    gateway = RunningGateway(
        gateway_settings(triton.grpc_url, max_text_chars=2000, max_batch_texts=8),
        tmp_path_factory.mktemp("monitoring-gateway"),
        TextAnalyzer.from_repository(repository),
    ).start()
    metrics = DriftMetrics()
    metrics_port = metrics.serve("127.0.0.1", 0)
    work = tmp_path_factory.mktemp("prometheus")
    port = free_port()
    targets = {
        "triton": f"127.0.0.1:{triton.metrics_port}",
        "sentiment-gateway": f"127.0.0.1:{gateway.server.metrics_port}",
        "sentiment-drift": f"127.0.0.1:{metrics_port}",
    }
    log = (work / "prometheus.log").open("wb")
    process = subprocess.Popen(
        [
            prometheus_binary,
            f"--config.file={prometheus_config(targets, work)}",
            f"--storage.tsdb.path={work / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{url}/-/ready", timeout=1).close()
                break
            except OSError:
                assert process.poll() is None, (work / "prometheus.log").read_text()[-2000:]
                assert time.monotonic() < deadline, "Prometheus did not become ready"
                time.sleep(0.2)
        yield LiveStack(
            triton=triton,
            gateway=gateway,
            key=gateway.create_key("monitoring"),
            drift_metrics=metrics,
            drift_metrics_port=metrics_port,
            prometheus_url=url,
            database_url=gateway.database.resolved_url(),
        )
    finally:
        process.terminate()
        process.wait(10)
        log.close()
        metrics.stop()
        gateway.stop()


@dataclass(frozen=True)
class TrafficWindows:
    """When each kind of traffic went through the gateway (UTC, ISO 8601)."""

    sst2: tuple[str, str]
    drifted: tuple[str, str]
    sst2_count: int
    drifted_count: int


@pytest.fixture(scope="session")
def traffic(live_stack: LiveStack, pipeline_settings: PipelineSettings) -> TrafficWindows:
    """SST-2 dev sentences, then clearly different text, through the gateway (sample rate 1)."""
    analyzer = live_stack.gateway.analyzer
    normal = sst2_traffic(pipeline_settings.data)
    different = drifted_traffic(pipeline_settings.data, analyzer)
    start = datetime.now(UTC)
    live_stack.send(normal)
    live_stack.wait_for_samples(len(normal))
    middle = datetime.now(UTC)
    live_stack.send(different)
    live_stack.wait_for_samples(len(normal) + len(different))
    end = datetime.now(UTC)
    return TrafficWindows(
        sst2=(start.isoformat(), middle.isoformat()),
        drifted=(middle.isoformat(), end.isoformat()),
        sst2_count=len(normal),
        drifted_count=len(different),
    )
