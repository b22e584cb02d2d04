"""TorchScript export: a traced module taking (input_ids, attention_mask), returning logits."""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from transformers import PreTrainedModel

from export.errors import ConversionError


class LogitsOnly(torch.nn.Module):
    """Wraps a Hugging Face classifier so the traced graph returns one tensor, the logits.

    Triton's PyTorch backend binds inputs by position (`input_ids__0`, `attention_mask__1`)
    and outputs by index (`logits__0`), so the module must take and return plain tensors.
    """

    def __init__(self, model: PreTrainedModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.model(input_ids=input_ids, attention_mask=attention_mask).logits


def export_torchscript(
    model: PreTrainedModel, example: dict[str, torch.Tensor], path: Path
) -> Path:
    """Trace `model` on `example` (input_ids, attention_mask) and save it to `path`.

    Tracing records one path through the graph; BERT has no data-dependent control flow, so
    the traced module is valid for any batch size and sequence length (the parity check
    runs several of both to prove it).
    """
    wrapper = LogitsOnly(model).eval()
    inputs = (example["input_ids"], example["attention_mask"])
    try:
        with torch.no_grad(), warnings.catch_warnings():
            # transformers builds a scalar tensor inside the mask helper; tracing warns that
            # it becomes a constant, which is right (it is 1.0). The parity gate runs the
            # traced module on many batch sizes and lengths, which is the real check.
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            traced = torch.jit.trace(wrapper, inputs, check_trace=True, strict=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.jit.save(traced, str(path))
    except Exception as error:  # torch raises many types; the caller needs one
        raise ConversionError(f"TorchScript tracing failed: {error}") from error
    return path
