"""Fixtures of the export tests: the golden set, one conversion of the tiny model, templates."""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from config.settings import PipelineSettings
from contract.layout import PYTHON_MODEL_FILE, PYTHON_MODELS
from export.convert import ExportedModel, convert, load_classifier
from export.golden import golden_texts
from export.onnx import export_onnx
from export.parity import ParityReport, check_parity
from export.publish import TEMPLATES
from export.settings import ExportSettings
from export.smoothing import calibration_texts


@pytest.fixture(scope="session")
def golden(pipeline_settings: PipelineSettings) -> list[str]:
    return golden_texts(pipeline_settings.data)


@pytest.fixture(scope="session")
def calibration(pipeline_settings: PipelineSettings) -> list[str]:
    """The export's INT8 smoothing calibration sentences (SST-2 train, seeded)."""
    settings = ExportSettings()
    return calibration_texts(
        pipeline_settings.data, settings.int8_calibration_size, settings.int8_calibration_seed
    )


@pytest.fixture(scope="session")
def exported(
    tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory, calibration: list[str]
) -> ExportedModel:
    """The tiny model converted once (TorchScript, ONNX, smoothed INT8) for the session."""
    return convert(
        tiny_model_dir, tmp_path_factory.mktemp("exported"), ExportSettings(), calibration
    )


@pytest.fixture(scope="session")
def parity_report(exported: ExportedModel, golden: list[str]) -> ParityReport:
    return check_parity(exported, golden)


@pytest.fixture(scope="session")
def perturbed_onnx(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """ONNX of the tiny model with 0.5 added to one class bias: logits off by exactly 0.5."""
    import torch

    model = load_classifier(tiny_model_dir)
    bias = model.get_parameter("classifier.bias")
    with torch.no_grad():
        bias[0] += 0.5
    path = tmp_path_factory.mktemp("perturbed") / "model.onnx"
    return export_onnx(model, path, ExportSettings())


@pytest.fixture(scope="session")
def templates(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the project's templates; a stand-in model.py where one is not written yet."""
    target = tmp_path_factory.mktemp("templates") / "model_repository"
    shutil.copytree(TEMPLATES, target, ignore=shutil.ignore_patterns("__pycache__"))
    for model in PYTHON_MODELS:
        code = target / model / PYTHON_MODEL_FILE
        if not code.exists():
            code.write_text("# stand-in: the real model.py is not in the templates yet\n")
    return target


@pytest.fixture
def snapshot() -> Callable[[Path], dict[str, str]]:
    """Takes a repository's snapshot: byte-identical trees give equal snapshots."""
    return _tree_snapshot


def _tree_snapshot(root: Path) -> dict[str, str]:
    """Every path under `root` (dot-folders too) with its file's sha256, or 'dir'."""
    if not root.exists():
        return {}
    snapshot = {}
    for path in sorted(root.rglob("*")):
        key = path.relative_to(root).as_posix()
        snapshot[key] = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "dir"
    return snapshot
