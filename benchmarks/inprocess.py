"""The in-process baseline: the published ONNX model and tokenizer, no server in between.

`InProcessModel` loads what the repository serves: `sentiment_onnx/<latest>/model.onnx`
and the tokenizer (`sentiment_tokenizer/<latest>/<tokenizer_dir>/tokenizer.json`).
`predict_one` tokenizes one text and runs it unpadded (the issue's baseline: one text at a
time, dynamic padding); `predict_many` pads a list to its longest text and runs it at
once. ONNX Runtime's defaults otherwise (spinning on): the fastest it goes in-process.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from contract.layout import MODEL_FILE, ONNX, PIPELINE_FILE, TOKENIZER, latest_version_folder
from contract.pipeline import Pipeline


class RepositoryError(RuntimeError):
    """The model repository lacks a published version of a model the bench needs."""


def latest_file(repository: Path, model: str, name: str) -> Path:
    """`<repository>/<model>/<latest version>/<name>`; RepositoryError when missing."""
    folder = latest_version_folder(repository / model)
    if folder is None or not (folder / name).exists():
        raise RepositoryError(
            f"{repository / model} has no published version with {name}: run `make model`"
        )
    return folder / name


def session_threads() -> int:
    return max(1, min(4, os.cpu_count() or 1))


@dataclass
class InProcessModel:
    """ONNX Runtime on the published model, tokenizing like the served pipeline."""

    onnx_path: Path
    tokenizer_file: Path
    pipeline: Pipeline

    @classmethod
    def from_repository(cls, repository: Path, model: str = ONNX) -> InProcessModel:
        pipeline_path = latest_file(repository, TOKENIZER, PIPELINE_FILE)
        pipeline = Pipeline.read(pipeline_path)
        tokenizer = pipeline_path.parent / pipeline.tokenizer_dir / "tokenizer.json"
        if not tokenizer.is_file():
            raise RepositoryError(f"missing {tokenizer}: run `make model`")
        return cls(latest_file(repository, model, MODEL_FILE[model]), tokenizer, pipeline)

    def __post_init__(self) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        options = ort.SessionOptions()
        options.intra_op_num_threads = session_threads()
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(
            str(self.onnx_path), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self.tokenizer = Tokenizer.from_file(str(self.tokenizer_file))
        self.tokenizer.no_truncation()
        self.tokenizer.no_padding()

    def count_tokens(self, text: str) -> int:
        """Word pieces of `text`, special tokens included."""
        return len(self.tokenizer.encode(text).ids)

    def _run(self, rows: list[list[int]], length: int) -> np.ndarray:
        ids = np.zeros((len(rows), length), dtype=np.int64)
        mask = np.zeros((len(rows), length), dtype=np.int64)
        for i, row in enumerate(rows):
            ids[i, : len(row)] = row
            mask[i, : len(row)] = 1
        feed = {"input_ids": ids, "attention_mask": mask}
        return np.asarray(self.session.run(["logits"], feed)[0])

    def predict_one(self, text: str) -> np.ndarray:
        """Logits [1, labels] of one text, unpadded (a batch of one pads to itself)."""
        row = self.tokenizer.encode(text).ids
        return self._run([row], len(row))

    def predict_many(self, texts: Sequence[str]) -> np.ndarray:
        """Logits [n, labels] of `texts` in one run, padded to the longest."""
        rows = [e.ids for e in self.tokenizer.encode_batch(list(texts))]
        return self._run(rows, max(len(r) for r in rows))
