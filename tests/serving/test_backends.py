"""The Python-based backends and their shared helper: mixed lengths padded, results
unchanged (tests/serving/test_tritonserver.py: the helper's place in the backend dir)."""

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
from serving.tritonserver import PYTHON_BASED_BACKENDS, TritonInstallation

BACKENDS = PROJECT_ROOT / "backends"


def load_backend(name: str) -> ModuleType:
    """Import backends/<name>/model.py as Triton's stub does: triton_python_backend_utils
    and the shared helper (`cpu_backend`) importable."""
    for folder in (TritonInstallation.find().python_backend, BACKENDS / "shared"):
        if str(folder) not in sys.path:
            sys.path.append(str(folder))
    spec = importlib.util.spec_from_file_location(f"backend_{name}", BACKENDS / name / "model.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def cpu_backend() -> ModuleType:
    load_backend("onnxruntime")  # puts the helper on sys.path
    import cpu_backend as helper

    return helper


@pytest.mark.parametrize("backend", PYTHON_BASED_BACKENDS)
def test_each_backend_loads_with_the_shared_helper(backend: str) -> None:
    module = load_backend(backend)
    assert module.execute_batched is cpu_backend().execute_batched


def test_stack_padded_zero_pads_every_non_batch_axis() -> None:
    stack_padded = cpu_backend().stack_padded
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
    stack_padded = cpu_backend().stack_padded
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
