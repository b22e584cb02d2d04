"""The Python-based backends' batching helper: mixed lengths padded, results unchanged."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import onnxruntime as ort
import pytest

from config.settings import PROJECT_ROOT
from export.publish import PublishedVersion
from serving.tritonserver import TritonInstallation


def load_backend(name: str) -> ModuleType:
    """Import backends/<name>/model.py with Triton's triton_python_backend_utils importable."""
    utils_dir = str(TritonInstallation.find().python_backend)
    if utils_dir not in sys.path:
        sys.path.append(utils_dir)
    spec = importlib.util.spec_from_file_location(
        f"backend_{name}", PROJECT_ROOT / "backends" / name / "model.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("backend", ["onnxruntime", "pytorch"])
def test_stack_padded_zero_pads_every_non_batch_axis(backend: str) -> None:
    stack_padded = load_backend(backend).stack_padded
    a = np.ones((2, 3), dtype=np.int64)
    b = np.full((1, 5), 7, dtype=np.int64)
    stacked = stack_padded([a, b])
    assert stacked.shape == (3, 5) and stacked.dtype == np.int64
    np.testing.assert_array_equal(stacked[:2, :3], a)
    assert not stacked[:2, 3:].any()
    np.testing.assert_array_equal(stacked[2], b[0])


def test_padded_batch_gives_the_same_logits_as_separate_runs(
    published: PublishedVersion, serving_repository: Path
) -> None:
    stack_padded = load_backend("onnxruntime").stack_padded
    path = serving_repository / "sentiment_onnx" / str(published.version) / "model.onnx"
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    requests = []
    for batch, length in ((1, 16), (3, 32), (2, 64)):
        ids = rng.integers(1000, 5000, size=(batch, length), dtype=np.int64)
        requests.append({"input_ids": ids, "attention_mask": np.ones_like(ids)})
    separate = np.concatenate([session.run(["logits"], r)[0] for r in requests])
    feed = {n: stack_padded([r[n] for r in requests]) for n in ("input_ids", "attention_mask")}
    together = session.run(["logits"], feed)[0]
    np.testing.assert_allclose(together, separate, atol=1e-5, rtol=0)
