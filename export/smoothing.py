"""SmoothQuant-style activation smoothing of a BERT classifier before dynamic INT8.

Dynamic INT8 quantizes each MatMul's activation input with one scale per tensor, so a few
outlier hidden channels (BERT's LayerNorm outputs reach ~30 where most channels stay
below ~2) leave the other channels a handful of quantization levels. Smoothing divides
input channel j of every quantized Linear by s_j = max|X_j|^alpha / max|W_j|^(1 - alpha)
(X from calibration texts) and multiplies the weight's column j by s_j: the FP32 function
is unchanged, and the outliers move into the weights, which are quantized per channel.

BERT is post-LayerNorm: a LayerNorm's output is also the residual stream, so the division
cannot be folded into the LayerNorm's weight and bias without changing the function. The
division is an explicit per-channel multiply in front of the Linears instead (one for the
shared query/key/value input, one each for the FFN's two Linears); the attention output
projection's division folds exactly into the value projection's rows, which context
channels copy. Only the INT8 artifact is built from the smoothed copy.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from export.errors import ConversionError
from export.golden import serving_batches
from export.settings import ExportSettings
from training.data import load_sst2


class ScaledInput(torch.nn.Module):
    """`inner(x * scale, ...)`: the per-channel division of smoothing, as one multiply."""

    scale: torch.Tensor

    def __init__(self, inner: torch.nn.Module, scale: torch.Tensor) -> None:
        super().__init__()
        self.inner = inner
        self.register_buffer("scale", scale.detach().clone())

    def forward(self, hidden_states: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
        return self.inner(hidden_states * self.scale, *args, **kwargs)


@dataclass(frozen=True)
class _Site:
    """One smoothed input: the module that gets a ScaledInput wrapper (None where the
    division folds into `fold_into`'s output rows) and the Linears that read that input."""

    parent: str
    """Dotted name of the module holding the wrapped child (or of the folding Linear)."""
    child: str | None
    """Attribute of `parent` to wrap; None to fold into `fold_into`."""
    linears: tuple[str, ...]
    """Dotted names of the Linears whose weight columns absorb the scale."""
    fold_into: str | None = None
    ffn_output: bool = False
    """Whether the input is the GELU output (smoothed with its own strength)."""


def _sites(model: PreTrainedModel, ffn_output: bool) -> list[_Site]:
    config = model.config
    if config.model_type != "bert":
        raise ConversionError(f"smoothing supports BERT only, not {config.model_type!r}")
    sites = []
    for index in range(config.num_hidden_layers):
        layer = f"bert.encoder.layer.{index}"
        attention = f"{layer}.attention.self"
        sites.append(
            _Site(
                parent=f"{layer}.attention",
                child="self",
                linears=tuple(f"{attention}.{name}" for name in ("query", "key", "value")),
            )
        )
        sites.append(
            _Site(
                parent=f"{layer}.attention.output",
                child=None,
                linears=(f"{layer}.attention.output.dense",),
                fold_into=f"{attention}.value",
            )
        )
        sites.append(
            _Site(
                parent=f"{layer}.intermediate",
                child="dense",
                linears=(f"{layer}.intermediate.dense",),
            )
        )
        if ffn_output:
            sites.append(
                _Site(
                    parent=f"{layer}.output",
                    child="dense",
                    linears=(f"{layer}.output.dense",),
                    ffn_output=True,
                )
            )
    return sites


def calibration_texts(data_source: str, size: int, seed: int) -> list[str]:
    """`size` distinct SST-2 train sentences drawn with `seed` (deterministic).

    Never dev sentences: the golden set that judges the INT8 model is drawn from dev.
    """
    sentences = sorted({s for s in load_sst2(data_source)["train"]["sentence"] if s.strip()})
    if len(sentences) < size:
        raise ConversionError(f"SST-2 train has {len(sentences)} usable sentences, need {size}")
    return random.Random(seed).sample(sentences, size)


def input_maxima(
    model: PreTrainedModel, batches: Iterable[tuple[torch.Tensor, torch.Tensor]], names: set[str]
) -> dict[str, torch.Tensor]:
    """Per-input-channel max |x| of the Linears `names` over `batches` (ids, mask)."""
    maxima: dict[str, torch.Tensor] = {}
    modules = dict(model.named_modules())

    def record(name: str) -> Any:
        def hook(_module: torch.nn.Module, inputs: tuple[torch.Tensor, ...], _out: Any) -> None:
            x = inputs[0].detach().abs().reshape(-1, inputs[0].shape[-1]).amax(dim=0)
            maxima[name] = torch.maximum(maxima[name], x) if name in maxima else x

        return hook

    handles = [modules[name].register_forward_hook(record(name)) for name in sorted(names)]
    try:
        with torch.no_grad():
            for input_ids, attention_mask in batches:
                model(input_ids=input_ids, attention_mask=attention_mask)
    finally:
        for handle in handles:
            handle.remove()
    return maxima


def smoothing_scales(
    activation_max: torch.Tensor, weights: Sequence[torch.Tensor], alpha: float
) -> torch.Tensor:
    """s_j = max|X_j|^alpha / max|W_j|^(1 - alpha), W the Linears' (out, in) weights."""
    weight_max = torch.cat([w.detach().abs() for w in weights], dim=0).amax(dim=0)
    x = activation_max.clamp(min=1e-5)
    w = weight_max.clamp(min=1e-5)
    return (x.pow(alpha) / w.pow(1 - alpha)).clamp(min=1e-5)


def smooth(
    model: PreTrainedModel,
    maxima: dict[str, torch.Tensor],
    alpha: float,
    ffn_output_alpha: float | None = None,
) -> PreTrainedModel:
    """A smoothed deep copy of `model` (same FP32 function up to rounding)."""
    smoothed = copy.deepcopy(model).eval()
    modules = dict(smoothed.named_modules())
    with torch.no_grad():
        for site in _sites(smoothed, ffn_output_alpha is not None):
            linears = [modules[name] for name in site.linears]
            weights = [linear.weight for linear in linears if isinstance(linear, torch.nn.Linear)]
            strength = ffn_output_alpha if site.ffn_output and ffn_output_alpha else alpha
            scales = smoothing_scales(maxima[site.linears[0]], weights, strength)
            for weight in weights:
                weight.mul_(scales)
            if site.child is None:
                folded = modules[site.fold_into or ""]
                if not isinstance(folded, torch.nn.Linear) or folded.bias is None:
                    raise ConversionError(f"cannot fold smoothing into {site.fold_into}")
                folded.weight.div_(scales[:, None])
                folded.bias.div_(scales)
            else:
                parent = modules[site.parent]
                inner = getattr(parent, site.child)
                setattr(parent, site.child, ScaledInput(inner, 1.0 / scales))
    return smoothed


def smooth_for_int8(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    texts: Sequence[str],
    settings: ExportSettings,
    max_length: int,
) -> PreTrainedModel:
    """The smoothed copy of `model` that the INT8 file is quantized from.

    Calibrates on `texts` batched and padded as serving batches them (padding positions
    are in every quantized tensor too; texts over `max_length` tokens are skipped), and
    raises ConversionError unless the copy's logits stay within `settings.atol` of the
    original's on those batches.
    """
    if settings.int8_smoothing_alpha is None:
        raise ConversionError("smoothing is off (int8_smoothing_alpha is None)")
    lengths = [len(ids) for ids in tokenizer(list(texts))["input_ids"]]
    usable = [text for text, length in zip(texts, lengths, strict=True) if length <= max_length]
    batches = [
        (torch.from_numpy(b.input_ids), torch.from_numpy(b.attention_mask))
        for b in serving_batches(
            tokenizer, usable, settings.length_buckets, max_length, settings.parity_batch_size
        )
    ]
    if not batches:
        raise ConversionError("no calibration texts fit the model's max_length")
    names = {site.linears[0] for site in _sites(model, ffn_output=True)}
    maxima = input_maxima(model, batches, names)
    smoothed = smooth(model, maxima, settings.int8_smoothing_alpha, settings.int8_ffn_output_alpha)
    drift = max_logit_diff(model, smoothed, batches)
    if not drift <= settings.atol:
        raise ConversionError(f"smoothing changed FP32 logits by {drift:.2e} > {settings.atol}")
    return smoothed


def max_logit_diff(
    first: PreTrainedModel,
    second: PreTrainedModel,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
) -> float:
    """Largest absolute logit difference of two classifiers over `batches` (ids, mask)."""
    worst = 0.0
    with torch.no_grad():
        for input_ids, attention_mask in batches:
            a = first(input_ids=input_ids, attention_mask=attention_mask).logits
            b = second(input_ids=input_ids, attention_mask=attention_mask).logits
            worst = max(worst, float((a - b).abs().max()))
    return worst
