"""The GPU layout of the text-in model (config.pbtxt: BLS to the classifier at its own
version), run on CPU: with two versions loaded, each version answers with its own network.

An ensemble would resolve its classifier step to the newest loaded version whatever
version was asked for; this is what makes a rollout's pinned calls honest on GPU.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from contract.layout import CONFIG_FILE, CONFIGS_DIR, ENSEMBLE, ONNX
from contract.versions import write_policy
from export.run import export_model_dir
from serving.tritonserver import TritonServer
from tests.serving.conftest import Offline, TritonClient, as_text_tensor, free_ports
from tests.variants import shifted_model

pytestmark = pytest.mark.triton

TEXT = np.array([[b"an utterly charming and moving film"]], dtype=np.object_)


@pytest.fixture(scope="module")
def gpu_layout(
    tiny_model_dir: Path, golden: list[str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TritonClient]:
    root = tmp_path_factory.mktemp("gpu-layout")
    repository = root / "model_repository"
    export_model_dir(tiny_model_dir, repository, golden[:16])
    shifted = shifted_model(tiny_model_dir, root / "shifted", shift=2.0)
    export_model_dir(shifted, repository, golden[:16])
    write_policy(repository, [1, 2])
    # The classifier's CPU placement; the text-in model's GPU config as it is (its Python
    # instances run on CPU there too). No configs/ folder: config.pbtxt is what loads.
    onnx = repository / ONNX
    shutil.copy2(onnx / CONFIGS_DIR / "cpu.pbtxt", onnx / CONFIG_FILE)
    for model in (ONNX, ENSEMBLE):
        shutil.rmtree(repository / model / CONFIGS_DIR)
    http, grpc, metrics = free_ports(3)
    server = TritonServer(
        repository=repository,
        work_dir=root / "triton",
        http_port=http,
        grpc_port=grpc,
        metrics_port=metrics,
        models=[ONNX, ENSEMBLE],
        config_name="",
        exit_timeout_s=3,
    )
    with server:
        client = TritonClient("http", server.http_url)
        yield client
        client.close()


def test_each_version_answers_with_its_own_network(
    gpu_layout: TritonClient, offline: Offline, golden: list[str]
) -> None:
    def probabilities(version: str) -> np.ndarray:
        result = gpu_layout.client.infer(
            ENSEMBLE,
            gpu_layout._inputs({"TEXT": TEXT}, {"TEXT": "BYTES"}),
            model_version=version,
        )
        assert result.get_response()["model_version"] == version
        return result.as_numpy("PROBABILITIES")

    first, second = probabilities("1"), probabilities("2")
    assert second[0, 1] > first[0, 1] + 0.2  # version 2's +2 logit shift, not version 1's
    np.testing.assert_allclose(probabilities("1"), first, atol=1e-6)
    # Version 1 through BLS matches the eager model it was exported from.
    texts = as_text_tensor(golden[:8])
    result = gpu_layout.client.infer(
        ENSEMBLE, gpu_layout._inputs({"TEXT": texts}, {"TEXT": "BYTES"}), model_version="1"
    )
    logits = offline.logits[:8]
    expected = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(result.as_numpy("PROBABILITIES"), expected, atol=1e-4)
