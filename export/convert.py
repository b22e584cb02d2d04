"""Model folder -> TorchScript, ONNX and INT8 ONNX files (no checks beyond conversion)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from transformers import AutoTokenizer, PretrainedConfig, PreTrainedModel

from contract.layout import PIPELINE_FILE
from contract.pipeline import Pipeline, PipelineError
from export.errors import ConversionError
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
    pipeline: Pipeline
    """The contract the version is served with (written as its pipeline.json)."""
    settings: ExportSettings

    @property
    def max_length(self) -> int:
        return self.pipeline.max_length

    @property
    def labels(self) -> tuple[str, ...]:
        return self.pipeline.labels


def load_classifier(model_dir: Path) -> PreTrainedModel:
    """The trained classifier in eval mode (the eager reference of every parity check)."""
    try:
        return training_model.load_classifier(model_dir)
    except (OSError, ValueError) as error:
        raise ConversionError(f"cannot load a classifier from {model_dir}: {error}") from error


def read_pipeline(model_dir: Path) -> Pipeline:
    """The trained folder's pipeline.json (any format: an older one gets the defaults)."""
    try:
        return Pipeline.read(model_dir / PIPELINE_FILE)
    except PipelineError as error:
        raise ConversionError(str(error)) from error


def position_limit(config: PretrainedConfig) -> int:
    """The most tokens the model takes: its position embeddings (512 for MiniLM and BERT).

    BERT-type models (the only ones `export.onnx` converts) use every position; models
    that offset positions by the padding index (RoBERTa) would need that offset taken off.
    """
    limit = getattr(config, "max_position_embeddings", None)
    if not isinstance(limit, int) or limit < 2:
        raise ConversionError(f"the model config has no usable max_position_embeddings: {limit!r}")
    return limit


def served_max_length(config: PretrainedConfig, settings: ExportSettings) -> int:
    """The served token limit: `settings.max_length`, or the model's position limit when
    None; never more than that limit (positions past it have no embedding)."""
    limit = position_limit(config)
    if settings.max_length is None:
        return limit
    if settings.max_length > limit:
        raise ConversionError(
            f"max_length {settings.max_length} is over the model's {limit} positions"
        )
    return settings.max_length


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
    the returned settings record that no smoothing was applied. The version's contract is
    the folder's pipeline.json in the current format, with the model's own token limit
    (`served_max_length`: 512 for MiniLM, not the training max_length) and the padding
    lengths of `settings.length_buckets` below it.
    """
    model = load_classifier(model_dir)
    max_length = served_max_length(model.config, settings)
    pipeline = read_pipeline(model_dir).served(settings.length_buckets, max_length)
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
        smoothed = smooth_for_int8(model, tokenizer, calibration, settings, pipeline.max_length)
        int8_source = export_onnx(smoothed, workdir / "smoothed" / "model.onnx", settings)
    else:
        settings = replace(settings, int8_smoothing_alpha=None, int8_ffn_output_alpha=None)
    onnx_int8 = quantize_dynamic_int8(int8_source, workdir / "onnx_int8" / "model.onnx", settings)
    return ExportedModel(
        model_dir=model_dir,
        torchscript=torchscript,
        onnx=onnx,
        onnx_int8=onnx_int8,
        pipeline=pipeline,
        settings=settings,
    )
