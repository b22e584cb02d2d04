"""The parity gate: exported models against eager PyTorch on the golden set."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import onnxruntime as ort
import torch
from transformers import AutoTokenizer

from contract.layout import ONNX, ONNX_INT8, TORCHSCRIPT
from export.convert import ExportedModel, load_classifier
from export.errors import ParityError
from export.golden import long_texts, serving_batches

Runner = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""(input_ids, attention_mask) -> logits, all numpy."""


@dataclass(frozen=True)
class ModelParity:
    """How one exported model compares with eager PyTorch on the golden set."""

    model: str
    max_abs_diff: float
    """Largest absolute logit difference over all golden texts."""
    label_agreement: float
    """Share of golden texts whose argmax label equals eager's."""
    required_agreement: float
    max_abs_tolerance: float | None
    """None where logits are not compared (INT8 is judged on labels only)."""

    @property
    def passed(self) -> bool:
        within = self.max_abs_tolerance is None or self.max_abs_diff <= self.max_abs_tolerance
        return within and self.label_agreement >= self.required_agreement

    def failure(self) -> tuple[str, float, float] | None:
        """(measure, worst, tolerance) of the first measure that misses its tolerance."""
        if self.max_abs_tolerance is not None and not self.max_abs_diff <= self.max_abs_tolerance:
            return "max abs logit diff", self.max_abs_diff, self.max_abs_tolerance
        if self.label_agreement < self.required_agreement:
            return "label agreement", self.label_agreement, self.required_agreement
        return None


@dataclass(frozen=True)
class ParityReport:
    """The parity results of one export (recorded in metadata and MLflow)."""

    golden_size: int
    """Texts checked: the golden set given, then the long texts added."""
    long_text_count: int
    """How many of them are long texts (SST-2 dev sentences joined, `golden.long_texts`)."""
    longest_tokens: int
    """Tokens of the longest text checked (special tokens included)."""
    batches: int
    sequence_lengths: list[int]
    """The padded lengths the batches used."""
    models: dict[str, ModelParity]

    @property
    def passed(self) -> bool:
        return all(result.passed for result in self.models.values())

    def check(self) -> None:
        """Raise ParityError (carrying this report) for the first model that failed."""
        for result in self.models.values():
            failure = result.failure()
            if failure is not None:
                raise ParityError(result.model, *failure, report=self.as_dict())

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form, with each model's `passed` included."""
        return {
            "golden_size": self.golden_size,
            "long_text_count": self.long_text_count,
            "longest_tokens": self.longest_tokens,
            "batches": self.batches,
            "sequence_lengths": self.sequence_lengths,
            "models": {
                name: {**asdict(result), "passed": result.passed}
                for name, result in self.models.items()
            },
        }


def torch_runner(module: torch.nn.Module) -> Runner:
    """Run an eager or TorchScript module (returning logits or an HF output) on numpy."""

    def run(input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            out = module(torch.from_numpy(input_ids), torch.from_numpy(attention_mask))
        logits = out if isinstance(out, torch.Tensor) else out.logits
        return logits.numpy()

    return run


def onnx_runner(path: str) -> Runner:
    """Run an ONNX model with ONNX Runtime's CPU provider."""
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])

    def run(input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        feed = {"input_ids": input_ids, "attention_mask": attention_mask}
        return np.asarray(session.run(["logits"], feed)[0])

    return run


def check_parity(exported: ExportedModel, golden: Sequence[str]) -> ParityReport:
    """Compare TorchScript, ONNX and INT8 ONNX with eager PyTorch on `golden` and long
    texts made of it (`settings.parity_long_text_tokens`: about 200 and 450 tokens).

    Batches are formed like serving forms them (one request per text, padded to its length
    bucket, equal lengths batched), so the padding lengths up to max_length are all run.
    The gate (`ParityReport.check`): TorchScript and ONNX within `atol` and all labels
    equal; INT8 labels equal on at least `int8_min_label_agreement` of the texts. The
    report is returned whether or not it passed, so that a failing one can be logged and
    stored before the export stops.
    """
    settings = exported.settings
    tokenizer = AutoTokenizer.from_pretrained(exported.model_dir)
    added = long_texts(golden, tokenizer, settings.parity_long_text_tokens, exported.max_length)
    texts = [*golden, *added]
    eager = torch_runner(load_classifier(exported.model_dir))
    candidates: dict[str, Runner] = {
        TORCHSCRIPT: torch_runner(torch.jit.load(str(exported.torchscript)).eval()),
        ONNX: onnx_runner(str(exported.onnx)),
        ONNX_INT8: onnx_runner(str(exported.onnx_int8)),
    }
    reference = np.zeros((len(texts), len(exported.labels)), dtype=np.float32)
    outputs = {name: np.zeros_like(reference) for name in candidates}
    batches = list(
        serving_batches(
            tokenizer,
            texts,
            exported.pipeline.length_buckets,
            exported.max_length,
            settings.parity_batch_size,
        )
    )
    for batch in batches:
        reference[batch.indices] = eager(batch.input_ids, batch.attention_mask)
        for name, run in candidates.items():
            outputs[name][batch.indices] = run(batch.input_ids, batch.attention_mask)

    labels = reference.argmax(axis=1)
    results = {}
    for name, logits in outputs.items():
        int8 = name == ONNX_INT8
        results[name] = ModelParity(
            model=name,
            max_abs_diff=float(np.abs(logits - reference).max()),
            label_agreement=float((logits.argmax(axis=1) == labels).mean()),
            required_agreement=settings.int8_min_label_agreement if int8 else 1.0,
            max_abs_tolerance=None if int8 else settings.atol,
        )
    lengths = [int(b.attention_mask.sum(axis=1).max()) for b in batches]
    report = ParityReport(
        golden_size=len(texts),
        long_text_count=len(added),
        longest_tokens=max(lengths, default=0),
        batches=len(batches),
        sequence_lengths=sorted({int(b.input_ids.shape[1]) for b in batches}),
        models=results,
    )
    return report
