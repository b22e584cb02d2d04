"""ONNX export with Optimum's exporter, and dynamic INT8 quantization with its ORTQuantizer."""

from __future__ import annotations

import re
import shutil
import tempfile
import warnings
from pathlib import Path

import onnx as onnx_lib
import torch
from optimum.exporters.error_utils import AtolError, OutputMatchError
from optimum.exporters.onnx import export as optimum_export
from optimum.exporters.onnx import validate_model_outputs
from optimum.exporters.onnx.model_configs import BertOnnxConfig
from optimum.onnxruntime import ORTQuantizer
from optimum.onnxruntime.configuration import AutoQuantizationConfig
from transformers import PretrainedConfig, PreTrainedModel

from export.errors import ConversionError
from export.settings import ExportSettings

TASK = "text-classification"


class BertClassifierOnnxConfig(BertOnnxConfig):
    """BERT for text classification with the serving contract's inputs only.

    Optimum's BERT config adds `token_type_ids`; the tokenizer model never sends it (the
    classifier's default of all zeros is what single-sentence inputs use), so the graph takes
    `input_ids` and `attention_mask` and returns `logits`.
    """

    def __init__(self, config: PretrainedConfig, settings: ExportSettings) -> None:
        super().__init__(config, task=TASK, int_dtype="int64", float_dtype="fp32")
        self._settings = settings

    @property
    def inputs(self) -> dict[str, dict[int, str]]:
        axes = self._settings.dynamic_axes
        return {name: dict(axes[name]) for name in self._settings.input_names}

    @property
    def outputs(self) -> dict[str, dict[int, str]]:
        name = self._settings.output_name
        return {name: dict(self._settings.dynamic_axes[name])}


_ONNX_CONFIGS: dict[str, type[BertClassifierOnnxConfig]] = {"bert": BertClassifierOnnxConfig}


def export_onnx(model: PreTrainedModel, path: Path, settings: ExportSettings) -> Path:
    """Export `model` to the ONNX file `path` with Optimum (validated on its dummy inputs).

    Optimum's `export` takes the ONNX config directly, so the project's own classifier
    classes (training.model) export like BERT's. Its validation failing on tolerance only
    warns; the parity gate on the golden set (export.parity) is the check that refuses a
    model. A wrong output shape is a conversion error.
    """
    model_type = model.config.model_type
    if model_type not in _ONNX_CONFIGS:
        raise ConversionError(
            f"no ONNX config for model type {model_type!r}; known: {sorted(_ONNX_CONFIGS)}"
        )
    onnx_config = _ONNX_CONFIGS[model_type](model.config, settings)
    with tempfile.TemporaryDirectory(prefix="onnx-export-") as folder:
        exported = Path(folder) / "model.onnx"
        try:
            with warnings.catch_warnings():
                # The same benign constant-scalar TracerWarning as in export.torchscript.
                warnings.simplefilter("ignore", torch.jit.TracerWarning)
                _, outputs = optimum_export(
                    model.eval(), onnx_config, exported, opset=settings.opset, device="cpu"
                )
            validate_model_outputs(
                onnx_config, model, exported, outputs, atol=settings.atol, use_subprocess=False
            )
        except (AtolError, OutputMatchError) as error:
            warnings.warn(f"Optimum's ONNX validation: {error}", stacklevel=2)
        except Exception as error:  # Optimum and torch.onnx raise many types
            raise ConversionError(f"ONNX export failed: {error}") from error
        check_graph_signature(exported, settings)
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(exported, path)
    return path


def quantize_dynamic_int8(source: Path, path: Path, settings: ExportSettings) -> Path:
    """Write a dynamically quantized INT8 copy of the ONNX model `source` to `path`."""
    preset = getattr(AutoQuantizationConfig, settings.int8_target, None)
    if preset is None:
        raise ConversionError(f"unknown AutoQuantizationConfig preset {settings.int8_target!r}")
    config = preset(
        is_static=False,
        per_channel=settings.int8_per_channel,
        operators_to_quantize=list(settings.int8_operators),
        nodes_to_exclude=matching_nodes(source, settings.int8_exclude_nodes),
    )
    with tempfile.TemporaryDirectory(prefix="onnx-int8-") as folder:
        try:
            quantizer = ORTQuantizer.from_pretrained(source.parent, file_name=source.name)
            quantizer.quantize(config, save_dir=folder, file_suffix="int8")
        except Exception as error:  # onnxruntime.quantization raises many types
            raise ConversionError(f"INT8 quantization failed: {error}") from error
        quantized = Path(folder) / f"{source.stem}_int8.onnx"
        check_graph_signature(quantized, settings)
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(quantized, path)
    return path


def matching_nodes(path: Path, patterns: tuple[str, ...]) -> list[str]:
    """Names of the nodes of the ONNX graph `path` that one of `patterns` (re.search) finds."""
    graph = onnx_lib.load(str(path), load_external_data=False).graph
    compiled = [re.compile(pattern) for pattern in patterns]
    return [node.name for node in graph.node if any(c.search(node.name) for c in compiled)]


def check_graph_signature(path: Path, settings: ExportSettings) -> None:
    """Raise ConversionError unless the graph's inputs and outputs are the serving contract."""
    graph = onnx_lib.load(str(path), load_external_data=False).graph
    inputs = tuple(tensor.name for tensor in graph.input)
    outputs = tuple(tensor.name for tensor in graph.output)
    if inputs != settings.input_names or outputs != (settings.output_name,):
        raise ConversionError(
            f"{path.name} has inputs {inputs} and outputs {outputs}; expected "
            f"{settings.input_names} and ({settings.output_name!r},)"
        )
