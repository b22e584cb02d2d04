"""The processes the bench measures: Triton on the published repository, and the gateway.

`Services` (a context manager) starts `serving.tritonserver.TritonServer` on free
loopback ports with the models the bench calls (and the models they call), then the
gateway as its own process (`python -m gateway`: SQLite audit with its spool, drift
sampling on, rate limits out of the way) with a fresh API key, and stops both.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from contract.layout import CLASSIFIER_PARAMETER, CONFIG_FILE, CONFIGS_DIR, is_model_folder

if TYPE_CHECKING:
    from serving.tritonserver import TritonServer

ROOT = Path(__file__).resolve().parent.parent
GATEWAY_START_S = 90.0
STEP_MODEL = re.compile(
    rf'model_name:\s*"([^"]+)"|key:\s*"{CLASSIFIER_PARAMETER}"\s*value\s*\{{\s*string_value:\s*"([^"]+)"'
)
"""An ensemble step's model, or the classifier a text-in model calls through BLS."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def model_config(repository: Path, model: str, config_name: str | None) -> Path | None:
    """The config Triton would read for `model`: configs/<name>.pbtxt, else config.pbtxt."""
    folder = repository / model
    if config_name and (folder / CONFIGS_DIR / f"{config_name}.pbtxt").is_file():
        return folder / CONFIGS_DIR / f"{config_name}.pbtxt"
    return folder / CONFIG_FILE if (folder / CONFIG_FILE).is_file() else None


def models_to_load(repository: Path, wanted: list[str], config_name: str | None) -> list[str]:
    """`wanted` models present in the repository, plus the models they call (an ensemble's
    steps, a text-in model's BLS classifier)."""
    order: list[str] = []
    todo = [m for m in wanted if is_model_folder(repository / m)]
    while todo:
        model = todo.pop(0)
        if model in order:
            continue
        order.append(model)
        config = model_config(repository, model, config_name)
        if config is not None:
            todo.extend(a or b for a, b in STEP_MODEL.findall(config.read_text()))
    return order


def start_gateway(env: dict[str, str], port: int, tree: Path = ROOT) -> subprocess.Popen[bytes]:
    """`python -m gateway` of source `tree` with `env`; returns once it accepts
    connections on `port`."""
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway"],
        cwd=tree,
        env={**env, "PYTHONPATH": str(tree)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + GATEWAY_START_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            assert process.stderr is not None
            raise RuntimeError(f"gateway exited: {process.stderr.read().decode()[-2000:]}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return process
        time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"gateway did not listen on port {port} within {GATEWAY_START_S:.0f} s")


def bench_triton(repository: Path, work_dir: Path, models: list[str]) -> TritonServer:
    """Triton (not started) on free loopback ports with `models` present in `repository`
    and the models they call, on their CPU configs where there is no GPU."""
    from serving.tritonserver import CPU_CONFIG_NAME, TritonServer, has_gpu

    config_name = None if has_gpu() else CPU_CONFIG_NAME
    return TritonServer(
        repository=repository,
        work_dir=work_dir,
        http_port=free_port(),
        grpc_port=free_port(),
        metrics_port=free_port(),
        models=models_to_load(repository, models, config_name),
    )


def create_api_key(state: Path) -> str:
    """A new API key in the SQLite database of a gateway whose state folder is `state`."""
    from gateway.persistence.keys import ApiKeyStore
    from store import make_engine, upgrade_database

    engine = make_engine(f"sqlite:///{state}/gateway.db")
    upgrade_database(engine)
    try:
        return ApiKeyStore(engine).create("benchmark").token
    finally:
        engine.dispose()


def gateway_env(
    state: Path,
    repository: Path,
    triton_grpc_port: int,
    port: int,
    metrics_port: int,
    drift_sample_rate: str = "0.1",
) -> dict[str, str]:
    """The bench gateway's environment: SQLite and its spool in `state`, loopback ports,
    rate limits out of the way, drift sampling on."""
    return {
        **os.environ,
        "SENTIMENT_STATE_DIR": str(state),
        "SENTIMENT_MODEL_REPOSITORY": str(repository),
        "SENTIMENT_GATEWAY_HOST": "127.0.0.1",
        "SENTIMENT_GATEWAY_PORT": str(port),
        "SENTIMENT_GATEWAY_METRICS_PORT": str(metrics_port),
        "SENTIMENT_TRITON_HOST": "127.0.0.1",
        "SENTIMENT_TRITON_GRPC_PORT": str(triton_grpc_port),
        "SENTIMENT_GATEWAY_RATE_LIMIT_PER_SECOND": "1000000",
        "SENTIMENT_GATEWAY_RATE_LIMIT_BURST": "1000000",
        "SENTIMENT_GATEWAY_DRIFT_SAMPLE_RATE": drift_sample_rate,
        "SENTIMENT_LOG_LEVEL": "WARNING",
    }


HISTOGRAMS = ("request_seconds", "triton_seconds")
"""The gateway's histograms of the whole call and of its Triton call."""


def gateway_histograms(metrics_url: str) -> dict[str, float]:
    """The `_sum` and `_count` of the gateway's call and Triton-call histograms (all labels
    added up) so far; {} when its metrics cannot be read."""
    import urllib.request

    try:
        text = urllib.request.urlopen(metrics_url, timeout=5).read().decode()
    except OSError:
        return {}
    totals: dict[str, float] = {}
    for line in text.splitlines():
        for name in HISTOGRAMS:
            for part in ("sum", "count"):
                if line.startswith(f"sentiment_gateway_{name}_{part}"):
                    value = float(line.rsplit(" ", 1)[1])
                    totals[f"{name}_{part}"] = totals.get(f"{name}_{part}", 0.0) + value
    return totals


def inside_gateway(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """Mean `call_ms` and `triton_ms` of the calls between two `gateway_histograms`."""
    means = {}
    for name, label in zip(HISTOGRAMS, ("call_ms", "triton_ms"), strict=True):
        count = after.get(f"{name}_count", 0.0) - before.get(f"{name}_count", 0.0)
        total = after.get(f"{name}_sum", 0.0) - before.get(f"{name}_sum", 0.0)
        if count <= 0:
            return {}
        means[label] = total / count * 1000
    return means


@dataclass
class Services:
    """Triton and the gateway for one bench run (a context manager)."""

    repository: Path
    models: list[str]
    """Text-in models to load (absent ones are skipped); the models they call come along."""
    drift_sample_rate: str = "0.1"
    loaded: list[str] = field(default_factory=list, init=False)
    triton_grpc_url: str = field(default="", init=False)
    gateway_url: str = field(default="", init=False)
    gateway_pid: int = field(default=0, init=False)
    gateway_metrics_url: str = field(default="", init=False)
    api_key: str = field(default="", init=False, repr=False)

    def __enter__(self) -> Services:
        self._state = tempfile.TemporaryDirectory(prefix="sentiment-bench-")
        state = Path(self._state.name)
        self._triton = bench_triton(self.repository, state / "triton", self.models)
        self.loaded = list(self._triton.models or [])
        try:
            self._triton.start()
            self._triton.wait_ready(timeout=240)
            self.triton_grpc_url = self._triton.grpc_url
            self._gateway = self._start_gateway(state)
        except BaseException:
            self._triton.stop()
            self._state.cleanup()
            raise
        return self

    def _start_gateway(self, state: Path) -> subprocess.Popen[bytes]:
        port, metrics_port = free_port(), free_port()
        self.api_key = create_api_key(state)
        self.gateway_metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
        env = gateway_env(
            state, self.repository, self._triton.grpc_port, port, metrics_port,
            self.drift_sample_rate,
        )  # fmt: skip
        gateway = start_gateway(env, port)
        self.gateway_url = f"127.0.0.1:{port}"
        self.gateway_pid = gateway.pid
        return gateway

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            self._gateway.send_signal(signal.SIGTERM)
            try:
                self._gateway.wait(60)
            except subprocess.TimeoutExpired:
                self._gateway.kill()
                self._gateway.wait()
        finally:
            self._triton.stop()
            self._state.cleanup()
