"""A mean-pooling classifier goes through the same conversion and parity gate as BERT's own."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from contract.layout import ONNX, PIPELINE_FILE, TORCHSCRIPT
from contract.pipeline import Pipeline
from export.convert import convert
from export.parity import check_parity
from export.settings import ExportSettings
from training.model import build_model, load_tokenizer


@pytest.fixture(scope="module")
def mean_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("mean_model")
    tokenizer = load_tokenizer()
    torch.manual_seed(3)
    model = build_model("tiny", tokenizer.vocab_size, "mean")
    with torch.no_grad():  # spread the logits so labels are not decided by rounding noise
        model.classifier.weight.mul_(50.0)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    Pipeline(max_length=128).write(folder / PIPELINE_FILE)
    return folder


def test_mean_pooling_model_passes_the_parity_gate(
    mean_model_dir: Path, tmp_path: Path, golden: list[str], calibration: list[str]
) -> None:
    exported = convert(mean_model_dir, tmp_path, ExportSettings(), calibration)
    report = check_parity(exported, golden)

    assert report.passed
    for name in (TORCHSCRIPT, ONNX):
        assert report.models[name].max_abs_diff <= 1e-4
        assert report.models[name].label_agreement == 1.0
    traced = torch.jit.load(str(exported.torchscript))
    assert "MeanPoolingBertClassifier" in traced.model.original_name
