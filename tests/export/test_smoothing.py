"""INT8 smoothing: the smoothed copy computes the same FP32 function, the INT8 file built
from it passes the parity gate, and calibration never reads the dev split."""

from __future__ import annotations

from pathlib import Path

import onnx
import torch
from transformers import AutoTokenizer

from config.settings import PipelineSettings
from contract.layout import ONNX_INT8
from export.convert import ExportedModel, load_classifier
from export.golden import serving_batches
from export.parity import ParityReport
from export.settings import ExportSettings
from export.smoothing import ScaledInput, calibration_texts, max_logit_diff, smooth_for_int8
from training.data import load_sst2


def test_smoothing_keeps_the_fp32_function(
    tiny_model_dir: Path, calibration: list[str], golden: list[str]
) -> None:
    settings = ExportSettings()
    model = load_classifier(tiny_model_dir)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    smoothed = smooth_for_int8(model, tokenizer, calibration[:64], settings, max_length=128)
    wrapped = [m for m in smoothed.modules() if isinstance(m, ScaledInput)]
    assert wrapped and all(float((m.scale - 1).abs().max()) > 0 for m in wrapped)
    assert not any(isinstance(m, ScaledInput) for m in model.modules())  # original untouched
    batches = [
        (torch.from_numpy(b.input_ids), torch.from_numpy(b.attention_mask))
        for b in serving_batches(tokenizer, golden[:96], (16, 32, 64, 128), 128, 32)
    ]
    assert max_logit_diff(model, smoothed, batches) < 1e-5


def test_int8_is_quantized_from_the_smoothed_copy_and_passes(
    exported: ExportedModel, parity_report: ParityReport
) -> None:
    assert exported.settings.int8_smoothing_alpha is not None
    nodes = onnx.load(str(exported.onnx_int8)).graph.node
    names = [node.name for node in nodes]
    # The smoothing multiply wraps self-attention, whose nodes move under ".../inner/".
    assert any("/attention/self/inner/" in name for name in names)
    plain = onnx.load(str(exported.onnx)).graph.node
    assert not any("/inner/" in node.name for node in plain)
    result = parity_report.models[ONNX_INT8]
    assert result.passed
    assert result.label_agreement >= exported.settings.int8_min_label_agreement


def test_calibration_is_seeded_train_sentences(
    pipeline_settings: PipelineSettings, calibration: list[str]
) -> None:
    settings = ExportSettings()
    again = calibration_texts(
        pipeline_settings.data, settings.int8_calibration_size, settings.int8_calibration_seed
    )
    assert again == calibration
    assert len(set(calibration)) == settings.int8_calibration_size
    splits = load_sst2(pipeline_settings.data)
    assert set(calibration) <= set(splits["train"]["sentence"])
    other = calibration_texts(pipeline_settings.data, 32, settings.int8_calibration_seed + 1)
    assert other != calibration[:32]
