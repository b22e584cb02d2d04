"""Declared export settings, in the style of Optimum's exporter configs."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

# Dynamic axes of every exported graph: any batch size, any (bucketed) sequence length.
TEXT_AXES: dict[int, str] = {0: "batch_size", 1: "sequence_length"}
LOGITS_AXES: dict[int, str] = {0: "batch_size"}


@dataclass(frozen=True)
class ExportSettings:
    """How a trained classifier is exported and what it must match before publishing."""

    opset: int = 18
    """ONNX opset: Optimum's default for BERT; >= 17 keeps LayerNormalization one fused op,
    and Triton 2.51's ONNX Runtime (1.19) runs up to opset 21."""
    input_names: tuple[str, ...] = ("input_ids", "attention_mask")
    """Graph inputs, in the order the TorchScript module takes them."""
    output_name: str = "logits"
    """The single graph output."""
    dynamic_axes: dict[str, dict[int, str]] = field(
        default_factory=lambda: {
            "input_ids": TEXT_AXES,
            "attention_mask": TEXT_AXES,
            "logits": LOGITS_AXES,
        }
    )
    """Axes left symbolic in the exported graphs."""
    atol: float = 1e-4
    """Largest absolute logit difference allowed between eager PyTorch and TorchScript/ONNX."""
    int8_min_label_agreement: float = 0.99
    """Smallest share of golden texts on which the INT8 model must predict eager's label."""
    int8_target: str = "avx2"
    """Optimum `AutoQuantizationConfig` preset for dynamic INT8 (u8/u8 weights: no VPMADDUBSW
    saturation, so the file is safe on any x86 CPU, VNNI or not)."""
    int8_per_channel: bool = True
    """Quantize weights per output channel (more accurate, slightly larger)."""
    length_buckets: tuple[int, ...] = (16, 32, 64, 128)
    """Padding lengths of the serving tokenizer (capped at the model's `max_length`)."""
    parity_batch_size: int = 32
    """Largest batch the parity check runs, within one length bucket, as Triton would."""

    def as_dict(self) -> dict[str, Any]:
        """The settings as JSON-ready values (recorded in each version's metadata)."""
        values = asdict(self)
        values["dynamic_axes"] = {
            name: {str(axis): label for axis, label in axes.items()}
            for name, axes in self.dynamic_axes.items()
        }
        return values
