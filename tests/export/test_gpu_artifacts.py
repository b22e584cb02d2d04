"""`-m gpu` on a CUDA machine: the exported TorchScript and ONNX files run on the GPU and
match eager CPU logits (scripts/gpu_check.py, both of its steps in one environment)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "gpu_check.py"


@pytest.mark.gpu
def test_exported_artifacts_match_eager_cpu_on_the_gpu(tmp_path: Path) -> None:
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device visible to torch")
    for step in ("prepare", "verify"):
        result = subprocess.run(
            [sys.executable, str(SCRIPT), step, str(tmp_path)],
            capture_output=True,
            text=True,
            timeout=1800,
            check=False,
        )
        assert result.returncode == 0, f"{step}:\n{result.stdout}\n{result.stderr}"
