"""Triton Python model: TEXT -> LABEL, SCORE, PROBABILITIES in one step, on CPU.

The CPU configuration (`configs/cpu.pbtxt`) of the text-in models `sentiment` (FP32) and
`sentiment_int8` (INT8): tokenizer, ONNX Runtime and softmax in one stub process, so a
call makes one hop through Triton instead of three (the GPU configuration, `config.pbtxt`,
is the ensemble of `sentiment_tokenizer`, the native classifier and
`sentiment_postprocess`). Same inputs, outputs, limits and `truncation` parameter as the
ensemble; runs on `text_pipeline` (copied next to this file by the publish) and on the
version folder's own `model.onnx`, `pipeline.json` and tokenizer.

Dynamic batching hands `execute()` every queued request; their texts are grouped by token
count and each group runs once, unpadded (inside one process nothing needs the padding
lengths that let the ensemble's steps batch: a text pays for its own tokens only, and a
long review never pads the short texts it arrived with).

Threads: config parameter `intra_op_thread_count`, else env `SENTIMENT_ORT_THREADS`, else
the CPU count, in each of the config's instances. Config parameters named `session.*` are
ONNX Runtime session config entries; spinning waits are off by default
(`session.intra_op.allow_spinning` "0"): a spinning pool takes the cores that the other
instance, the gateway and Triton's own threads need. On 2 cores, 2 instances of 2
threads without spinning measured best over concurrency 1 and 16 together (1 thread:
slower alone; 1 instance: less throughput; spinning: both worse; spinning only inside a
run: 1 ms faster alone, a quarter less throughput; `python -m benchmarks.variants`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import triton_python_backend_utils as pb_utils
from text_pipeline import (
    TEXT_INPUT,
    Postprocess,
    RequestError,
    TextEncoder,
    error_response,
)

MODEL_FILE = "model.onnx"
THREADS_ENV = "SENTIMENT_ORT_THREADS"
SESSION_DEFAULTS = {"session.intra_op.allow_spinning": "0"}
"""ONNX Runtime session config entries unless the config's parameters name them."""


def _session_entries(config: dict[str, Any]) -> dict[str, str]:
    """Config parameters named like ONNX Runtime session config entries (`session.*`)."""
    parameters = config.get("parameters", {})
    return {
        key: str(value.get("string_value", ""))
        for key, value in parameters.items()
        if key.startswith("session.")
    }


def _parameter(config: dict[str, Any], key: str) -> str | None:
    value = config.get("parameters", {}).get(key, {}).get("string_value")
    return value or None


class TritonPythonModel:
    """Tokenize, classify and postprocess every queued request in one execute()."""

    def initialize(self, args: dict[str, str]) -> None:
        config = json.loads(args["model_config"])
        if int(config.get("max_batch_size", 0)) < 1:
            raise pb_utils.TritonModelException("config must batch (max_batch_size >= 1)")
        inputs = {t["name"]: t["data_type"] for t in config.get("input", [])}
        if inputs.get(TEXT_INPUT) != "TYPE_STRING":
            raise pb_utils.TritonModelException(f"config needs a TYPE_STRING input {TEXT_INPUT}")
        version_dir = Path(args["model_repository"]) / args["model_version"]
        self.encoder = TextEncoder(version_dir)
        self.postprocess = Postprocess(self.encoder.pipeline.labels)
        path = version_dir / MODEL_FILE
        if not path.is_file():
            raise pb_utils.TritonModelException(f"missing model file {path}")
        options = ort.SessionOptions()
        threads = _parameter(config, "intra_op_thread_count") or os.environ.get(THREADS_ENV)
        options.intra_op_num_threads = int(threads) if threads else (os.cpu_count() or 1)
        options.inter_op_num_threads = 1
        entries = {**SESSION_DEFAULTS, **_session_entries(config)}
        for key, value in entries.items():
            options.add_session_config_entry(key, value)
        self.session = ort.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
        )

    def execute(self, requests: list[Any]) -> list[Any]:
        encoded = self.encoder.encode(requests)
        # (request, row) of every text, grouped by token count
        groups: dict[int, list[tuple[int, int]]] = {}
        for index, rows in enumerate(encoded):
            if isinstance(rows, RequestError):
                continue
            for row, tokens in enumerate(rows):
                groups.setdefault(len(tokens), []).append((index, row))
        logits: dict[int, np.ndarray] = {
            index: np.empty((len(rows), len(self.encoder.pipeline.labels)), dtype=np.float32)
            for index, rows in enumerate(encoded)
            if not isinstance(rows, RequestError)
        }
        failure = None
        try:
            for length, members in groups.items():
                rows = [encoded[i][r] for i, r in members]  # type: ignore[index]
                input_ids, attention_mask = self.encoder.pad(rows, length)
                (out,) = self.session.run(
                    ["logits"], {"input_ids": input_ids, "attention_mask": attention_mask}
                )
                for (index, row), values in zip(members, out, strict=True):
                    logits[index][row] = values
        except Exception as err:  # the run failed for every request of this execute()
            failure = f"onnxruntime failed: {err}"
        responses = []
        for index, rows in enumerate(encoded):
            if isinstance(rows, RequestError):
                responses.append(error_response(str(rows)))
            elif failure is not None:
                responses.append(pb_utils.InferenceResponse(error=pb_utils.TritonError(failure)))
            else:
                tensors = self.postprocess.tensors(logits[index])
                responses.append(pb_utils.InferenceResponse(output_tensors=tensors))
        return responses

    def finalize(self) -> None:
        self.session = None
        self.encoder = None
