"""scripts/gpu_bench.py on CPU with its quick grid and a tiny BERT: it runs, writes its
JSON and table, and refuses clearly when asked for a GPU that is not there."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
TINY_BERT = {
    "vocab_size": 1100, "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2,
    "intermediate_size": 64, "max_position_embeddings": 128,
}  # fmt: skip


@pytest.fixture(scope="module")
def gpu_bench() -> ModuleType:
    """scripts/gpu_bench.py as a module (scripts/ is no package)."""
    spec = importlib.util.spec_from_file_location("gpu_bench", ROOT / "scripts" / "gpu_bench.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpu_bench"] = module  # dataclasses look their module up while it loads
    spec.loader.exec_module(module)
    return module


def test_quick_cpu_run_on_a_tiny_model(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps(TINY_BERT))
    command = [sys.executable, str(ROOT / "scripts" / "gpu_bench.py"), "--device", "cpu",
               "--quick", "--config", str(config), "--out", str(tmp_path / "out")]  # fmt: skip
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    data = json.loads((tmp_path / "out" / "gpu_bench.json").read_text())
    measured = {(c["engine"], c["precision"]) for c in data["results"] if c["texts_per_s"]}
    assert measured == {("TorchScript", "fp32"), ("ONNX Runtime", "fp32")}
    assert {p["seq_len"] for p in data["preferred"]} == {16, 64}
    assert "| seq len | b=1 | b=4 | b=8 | prefer |" in data["markdown"]
    assert "FP16 only on CUDA" in data["markdown"]
    assert data["markdown"] in done.stdout


def test_preferred_batch_is_the_smallest_within_ten_percent(gpu_bench: ModuleType) -> None:
    cells = [
        gpu_bench.Cell("TorchScript", "fp16", batch, 128, texts_per_s=rate)
        for batch, rate in ((1, 100.0), (8, 700.0), (16, 930.0), (32, 1000.0), (64, 980.0))
    ]
    (row,) = gpu_bench.preferred(cells)
    assert row["best_batch"] == 32
    assert row["prefer_batch"] == 16
    assert row["within_10_percent"] == [16, 32, 64]


def test_no_cuda_stops_with_a_message(gpu_bench: ModuleType) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    device, reason = gpu_bench.pick_device("auto")
    assert device is None
    assert "no CUDA device" in reason
