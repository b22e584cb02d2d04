"""perf_analyzer from the tritonclient wheel runs against the served ensemble."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from serving.perf import find_perf_analyzer, perf_command, perf_environment, write_input_data
from serving.tritonserver import TritonServer


def test_input_data_is_one_string_request_per_sentence(tmp_path: Path) -> None:
    path = write_input_data(["a fine film", "dull"], tmp_path / "data.json")
    data = json.loads(path.read_text())["data"]
    assert data == [
        {"TEXT": {"content": ["a fine film"], "shape": [1]}},
        {"TEXT": {"content": ["dull"], "shape": [1]}},
    ]


def test_perf_analyzer_binary_and_libraries_are_found() -> None:
    binary = find_perf_analyzer()
    linked = subprocess.run(
        ["ldd", str(binary)], env=perf_environment(), capture_output=True, text=True, check=True
    )
    assert "not found" not in linked.stdout, linked.stdout


@pytest.mark.triton
def test_short_perf_analyzer_run_against_the_text_model(
    triton: TritonServer, golden: list[str], tmp_path: Path
) -> None:
    data = write_input_data(golden[:64], tmp_path / "sst2.json")
    # Count windows and a loose stability bound: this checks that the tool runs, not the
    # numbers, and the shared 2-core box is too noisy for the default 10 % stability.
    options = [
        "--concurrency-range=2",
        "--measurement-mode=count_windows",
        "--measurement-request-count=64",
        "--stability-percentage=1000",
        "--max-trials=3",
    ]
    command = perf_command(data, triton.grpc_url, "sentiment", "grpc", options)
    result = subprocess.run(
        command, env=perf_environment(), capture_output=True, text=True, timeout=120, check=False
    )
    assert "throughput:" in result.stdout, result.stdout + result.stderr
    assert "Server:" in result.stdout and "Inference count" in result.stdout
