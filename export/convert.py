"""Model folder -> TorchScript, ONNX and INT8 ONNX files (no checks beyond conversion)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from transformers import AutoTokenizer, PreTrainedModel

from export.errors import ConversionError
from export.layout import PIPELINE_FILE
from export.onnx import export_onnx, quantize_dynamic_int8
from export.settings import ExportSettings
from export.smoothing import smooth_for_int8
from export.torchscript import export_torchscript
from training import model as training_model


@dataclass(frozen=True)
class ExportedModel:
    """The files converted from one trained model folder, ready for the parity check."""

    model_dir: Path
    """The trained folder: HF model + tokenizer (`save_pretrained`) + pipeline.json."""
    torchscript: Path
    onnx: Path
    onnx_int8: Path
    max_length: int
    labels: tuple[str, ...]
    settings: ExportSettings


def load_classifier(model_dir: Path) -> PreTrainedModel:
    """The trained classifier in eval mode (the eager reference of every parity check)."""
    try:
        return training_model.load_classifier(model_dir)
    except (OSError, ValueError) as error:
        raise ConversionError(f"cannot load a classifier from {model_dir}: {error}") from error


def read_pipeline(model_dir: Path) -> dict:
    """The folder's pipeline.json: `max_length` (int) and `labels` (list of str)."""
    try:
        pipeline = json.loads((model_dir / PIPELINE_FILE).read_text())
        int(pipeline["max_length"])
        list(pipeline["labels"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        problem = f"{model_dir / PIPELINE_FILE} is missing or invalid: {error}"
        raise ConversionError(problem) from error
    return pipeline


def convert(
    model_dir: Path,
    workdir: Path,
    settings: ExportSettings,
    calibration: Sequence[str] | None = None,
) -> ExportedModel:
    """Write model.pt, model.onnx and int8/model.onnx for `model_dir` into `workdir`.

    The INT8 model is quantized from a smoothed copy (export.smoothing) calibrated on
    `calibration` (SST-2 train sentences, see `smoothing.calibration_texts`); without
    calibration texts, or with `int8_smoothing_alpha` None, from the plain ONNX export, and
    the returned settings record that no smoothing was applied.
    """
    pipeline = read_pipeline(model_dir)
    model = load_classifier(model_dir)
    # Trace with padding in the example: a mask of all ones would let transformers take
    # its "no mask needed" shortcut, and a traced graph would keep that shortcut forever.
    example = {
        "input_ids": torch.tensor([[101, 7592, 2088, 102], [101, 7592, 102, 0]]),
        "attention_mask": torch.tensor([[1, 1, 1, 1], [1, 1, 1, 0]]),
    }
    example["input_ids"] = example["input_ids"].clamp(max=model.config.vocab_size - 1)
    torchscript = export_torchscript(model, example, workdir / "torchscript" / "model.pt")
    onnx = export_onnx(model, workdir / "onnx" / "model.onnx", settings)
    int8_source = onnx
    if settings.int8_smoothing_alpha is not None and calibration:
        tokenizer = AutoTokenizer.from_pretrained(model_dir)
        smoothed = smooth_for_int8(
            model, tokenizer, calibration, settings, int(pipeline["max_length"])
        )
        int8_source = export_onnx(smoothed, workdir / "smoothed" / "model.onnx", settings)
    else:
        settings = replace(settings, int8_smoothing_alpha=None, int8_ffn_output_alpha=None)
    onnx_int8 = quantize_dynamic_int8(int8_source, workdir / "onnx_int8" / "model.onnx", settings)
    return ExportedModel(
        model_dir=model_dir,
        torchscript=torchscript,
        onnx=onnx,
        onnx_int8=onnx_int8,
        max_length=int(pipeline["max_length"]),
        labels=tuple(pipeline["labels"]),
        settings=settings,
    )
