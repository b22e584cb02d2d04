"""Triton Python model: TEXT -> LABEL, SCORE, PROBABILITIES, the text-in models' one step.

The text-in models `sentiment` (FP32) and `sentiment_int8` (INT8) run this code in both
configurations, so that a call can name a version and get that version's numbers:

- CPU (`configs/cpu.pbtxt`): tokenizer, ONNX Runtime on the version folder's own
  `model.onnx`, and softmax in one stub process: one hop through Triton.
- GPU (`config.pbtxt`, config parameter `classifier_model`): tokenizer and softmax here,
  the network in the native ONNX Runtime backend on the GPU, called through Triton's
  business logic scripting (BLS) at this model's own version. An ensemble would call the
  newest loaded version of each step, whatever version of the ensemble was asked for,
  and a rollout loads two (docs/rollouts.md).

Same inputs, outputs, limits and `truncation` parameter in both; runs on `text_pipeline`
(copied next to this file by the publish) and the version folder's `pipeline.json` and
tokenizer.

Dynamic batching hands `execute()` every queued request; their texts are grouped by token
count and each group runs once, unpadded on CPU (a text pays for its own tokens only, and
a long review never pads the short texts it arrived with), padded to `pipeline.json`'s
length buckets on GPU (so that calls from both instances batch in the classifier's queue:
Triton batches equal shapes only).

Threads (CPU): config parameter `intra_op_thread_count`, else env `SENTIMENT_ORT_THREADS`,
else the CPU count, in each of the config's instances. Config parameters named
`session.*` are ONNX Runtime session config entries; spinning waits are off by default
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
CLASSIFIER_PARAMETER = "classifier_model"
"""Config parameter: the classifier model to call through BLS (GPU); absent on CPU."""
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
        self.width = len(self.encoder.pipeline.labels)
        classifier = _parameter(config, CLASSIFIER_PARAMETER)
        if classifier:
            self.classifier: Any = TritonClassifier(classifier, int(args["model_version"]))
            # Padded to the buckets, so calls batch in the classifier's queue.
            buckets = self.encoder.pipeline.length_buckets
            bucket_of = [next(b for b in buckets if b >= n) for n in range(buckets[-1] + 1)]
            self._group_length: Any = lambda tokens: bucket_of[len(tokens)]
        else:
            self.classifier = OnnxClassifier(version_dir / MODEL_FILE, config)
            self._group_length = len  # in-process: each token count unpadded

    def execute(self, requests: list[Any]) -> list[Any]:
        encoded = self.encoder.encode(requests)
        valid = [rows for rows in encoded if not isinstance(rows, RequestError)]
        # Every text's row in `logits` (request order), grouped by padding length
        groups: dict[int, list[tuple[list[int], int]]] = {}
        position = 0
        for rows in valid:
            for tokens in rows:
                groups.setdefault(self._group_length(tokens), []).append((tokens, position))
                position += 1
        logits = np.empty((position, self.width), dtype=np.float32)
        failure = None
        try:
            for length, members in groups.items():
                input_ids, attention_mask = self.encoder.pad([t for t, _ in members], length)
                logits[[p for _, p in members]] = self.classifier.logits(input_ids, attention_mask)
        except Exception as err:  # the run failed for every request of this execute()
            failure = f"classifier failed: {err}"
        outputs = iter(
            self.postprocess.per_request(logits, [len(rows) for rows in valid])
            if failure is None
            else []
        )
        responses = []
        for rows in encoded:
            if isinstance(rows, RequestError):
                responses.append(error_response(str(rows)))
            elif failure is not None:
                responses.append(pb_utils.InferenceResponse(error=pb_utils.TritonError(failure)))
            else:
                responses.append(pb_utils.InferenceResponse(output_tensors=next(outputs)))
        return responses

    def finalize(self) -> None:
        self.classifier = None
        self.encoder = None


class OnnxClassifier:
    """ONNX Runtime in this process, on the version folder's model file (CPU)."""

    def __init__(self, path: Path, config: dict[str, Any]) -> None:
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

    def logits(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        (out,) = self.session.run(
            ["logits"], {"input_ids": input_ids, "attention_mask": attention_mask}
        )
        return out


class TritonClassifier:
    """The classifier model in Triton at this model's own version, through BLS (GPU)."""

    def __init__(self, model: str, version: int) -> None:
        self.model = model
        self.version = version
        self.memory = pb_utils.PreferredMemory(pb_utils.TRITONSERVER_MEMORY_CPU, 0)

    def logits(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        request = pb_utils.InferenceRequest(
            model_name=self.model,
            model_version=self.version,
            requested_output_names=["logits"],
            inputs=[
                pb_utils.Tensor("input_ids", input_ids),
                pb_utils.Tensor("attention_mask", attention_mask),
            ],
            preferred_memory=self.memory,
        )
        response = request.exec()
        if response.has_error():
            raise RuntimeError(response.error().message())
        return pb_utils.get_output_tensor_by_name(response, "logits").as_numpy()
