"""The Triton image's entry point (compose, ECS), run for real: the wheel's tritonserver
stands in for the NGC image's, and the model-repository API answers only to the key the
entry point was given, or to nobody when it was given none."""

from __future__ import annotations

import os
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from config.triton import ADMIN_HEADER
from serving.tritonserver import TritonServer, build_backend_directory
from tests.serving.conftest import free_ports

pytestmark = pytest.mark.triton

ENTRYPOINT = Path(__file__).resolve().parents[2] / "infra" / "docker" / "triton-entrypoint.sh"
KEY = "k3y-" + "0123456789abcdef" * 3
IDENTITY_CONFIG = """name: "identity"
backend: "python"
max_batch_size: 8
input [{ name: "IN", data_type: TYPE_FP32, dims: [1] }]
output [{ name: "OUT", data_type: TYPE_FP32, dims: [1] }]
"""
IDENTITY_MODEL = """import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def execute(self, requests):
        return [
            pb_utils.InferenceResponse(
                [pb_utils.Tensor("OUT", pb_utils.get_input_tensor_by_name(r, "IN").as_numpy())]
            )
            for r in requests
        ]
"""


class Entrypoint:
    """triton-entrypoint.sh with `tritonserver` on PATH being the wheel's binary, on free
    loopback ports (the extra arguments come after the script's own, and the last wins)."""

    def __init__(self, tmp_path: Path) -> None:
        self.repository = tmp_path / "repo"
        (self.repository / "identity" / "1").mkdir(parents=True)
        (self.repository / "identity" / "config.pbtxt").write_text(IDENTITY_CONFIG)
        (self.repository / "identity" / "1" / "model.py").write_text(IDENTITY_MODEL)
        self.http, self.grpc, self.metrics = free_ports(3)
        launcher = TritonServer(self.repository, tmp_path / "work", self.http)
        backends = build_backend_directory(tmp_path / "backends", launcher.installation)
        self.args = [
            f"--backend-directory={backends}",
            f"--http-port={self.http}",
            f"--grpc-port={self.grpc}",
            f"--metrics-port={self.metrics}",
            *(f"--{listener}-address=127.0.0.1" for listener in ("http", "grpc", "metrics")),
            f"--backend-config=python,shm-region-prefix-name=entrypoint_{self.http}_",
        ]
        shims = tmp_path / "bin"
        shims.mkdir()
        (shims / "tritonserver").write_text(
            f'#!/bin/sh\nexec "{launcher.installation.binary}" "$@"\n'
        )
        (shims / "tritonserver").chmod(0o755)
        self.env = launcher.environment()
        self.env["PATH"] = f"{shims}{os.pathsep}{self.env['PATH']}"
        self.env["TRITON_MODEL_REPOSITORY"] = str(self.repository)
        self.env["TRITON_EXIT_TIMEOUT_SECS"] = "2"
        self.env.pop("TRITON_ADMIN_KEY", None)
        self.log = tmp_path / "entrypoint.log"

    def start(self, **env: str) -> subprocess.Popen[bytes]:
        with self.log.open("wb") as log:
            return subprocess.Popen(
                ["bash", str(ENTRYPOINT), *self.args],
                env={**self.env, **env},
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def wait_ready(self, process: subprocess.Popen[bytes]) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert process.poll() is None, self.log.read_text()
            try:
                if self.request("GET", "/v2/health/ready") == 200:
                    return
            except OSError:
                pass  # not listening yet
            time.sleep(0.3)
        pytest.fail(f"not ready: {self.log.read_text()[-2000:]}")

    def request(self, method: str, path: str, key: str | None = None) -> int:
        headers = {ADMIN_HEADER: key} if key else {}
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.http}{path}", method=method, headers=headers
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return int(response.status)
        except urllib.error.HTTPError as error:
            return error.code


@pytest.fixture
def entrypoint(tmp_path: Path) -> Iterator[Entrypoint]:
    yield Entrypoint(tmp_path)


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def test_the_given_key_opens_the_repository_api(entrypoint: Entrypoint) -> None:
    process = entrypoint.start(TRITON_ADMIN_KEY=KEY)
    try:
        entrypoint.wait_ready(process)
        assert entrypoint.request("POST", "/v2/repository/index") == 403
        assert entrypoint.request("POST", "/v2/repository/models/identity/unload") == 403
        assert entrypoint.request("GET", "/v2/models/identity/ready") == 200  # still loaded
        assert entrypoint.request("GET", "/v2/models/identity") == 200  # metadata: open
        assert entrypoint.request("GET", "/v2/models/identity/config") == 200
        assert entrypoint.request("GET", "/v2/models/identity/stats") == 200
        assert entrypoint.request("POST", "/v2/repository/index", KEY) == 200
        assert entrypoint.request("POST", "/v2/repository/models/identity/unload", KEY) == 200
        assert entrypoint.request("POST", "/v2/repository/models/identity/load", KEY) == 200
    finally:
        stop(process)


def test_without_a_key_nobody_can_load(entrypoint: Entrypoint) -> None:
    process = entrypoint.start()
    try:
        entrypoint.wait_ready(process)
        assert entrypoint.request("POST", "/v2/repository/index") == 403
        assert entrypoint.request("POST", "/v2/repository/index", KEY) == 403
        assert entrypoint.request("GET", "/v2/models/identity/ready") == 200
    finally:
        stop(process)
    assert "TRITON_ADMIN_KEY unset: the model-repository API is closed" in (
        entrypoint.log.read_text()
    )


@pytest.mark.parametrize("key", ["short", "x" * 31 + ":", "with space" + "x" * 32])
def test_a_key_that_cannot_travel_in_the_flag_stops_the_start(
    entrypoint: Entrypoint, key: str
) -> None:
    process = entrypoint.start(TRITON_ADMIN_KEY=key)
    assert process.wait(30) == 64
    assert entrypoint.log.read_text().strip() == (
        "sentiment-triton: TRITON_ADMIN_KEY must be at least 32 letters, digits, '-' or '_'"
    )
