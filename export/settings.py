"""Declared export settings, in the style of Optimum's exporter configs."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from contract.pipeline import LENGTH_BUCKETS

# Dynamic axes of every exported graph: any batch size, any (bucketed) sequence length.
TEXT_AXES: dict[int, str] = {0: "batch_size", 1: "sequence_length"}
LOGITS_AXES: dict[int, str] = {0: "batch_size"}

# The activation x activation MatMuls of self-attention (Q.K^T and P.V): dynamic INT8 adds
# two per-tensor activation quantizations each, for matmuls too small to gain from them.
# The FFN output Linear (input: the GELU output, whose per-token outliers smoothing cannot
# move) was the largest remaining error on the trained MiniLM even smoothed; it stays FP32.
INT8_EXCLUDE_NODES: tuple[str, ...] = (
    r"/attention/self/(inner/)?MatMul(_1)?$",
    r"/layer\.\d+/output/dense/(inner/)?MatMul$",
)


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
    int8_operators: tuple[str, ...] = ("MatMul",)
    """Operator types quantized. The preset's default adds Gather, which quantizes the
    30k x 384 embedding tables with one scale each: on the trained MiniLM that was the
    largest single source of INT8 logit error, for no speed gain (a lookup is no matmul)."""
    int8_exclude_nodes: tuple[str, ...] = INT8_EXCLUDE_NODES
    """Regular expressions (`re.search`) over ONNX node names kept FP32 in the INT8 model."""
    int8_smoothing_alpha: float | None = 0.65
    """SmoothQuant migration strength for the inputs of the query/key/value, attention
    output and FFN input Linears (export.smoothing); None quantizes the unsmoothed model."""
    int8_ffn_output_alpha: float | None = None
    """Migration strength for the FFN output Linear's input (the GELU output); None leaves
    that input unsmoothed (it is excluded from INT8 by default, see INT8_EXCLUDE_NODES)."""
    int8_calibration_size: int = 512
    """SST-2 train sentences whose activation maxima set the smoothing scales."""
    int8_calibration_seed: int = 0
    """Seed of the calibration sentences' draw."""
    max_length: int | None = None
    """Served token limit (special tokens included) written into pipeline.json; None: the
    model's position limit (`config.max_position_embeddings`, 512 for MiniLM), whatever
    max_length training used. A value over the position limit is refused."""
    length_buckets: tuple[int, ...] = LENGTH_BUCKETS
    """Padding lengths offered to the serving tokenizer: those below the served
    `max_length`, then `max_length`, go into the version's pipeline.json."""
    parity_batch_size: int = 32
    """Largest batch the parity check runs, within one length bucket, as Triton would."""
    parity_long_text_tokens: tuple[int, ...] = (200, 450)
    """Token lengths (special tokens included, at most) of the long texts the parity check
    adds to its golden set: SST-2 dev sentences joined until the next would pass the
    length, so the 256 and 512 padding lengths are checked too (none is over max_length)."""

    def as_dict(self) -> dict[str, Any]:
        """The settings as JSON-ready values (recorded in each version's metadata)."""
        values = asdict(self)
        values["dynamic_axes"] = {
            name: {str(axis): label for axis, label in axes.items()}
            for name, axes in self.dynamic_axes.items()
        }
        return values
