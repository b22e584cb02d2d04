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

Dynamic batching hands `execute()` every queued request; their texts are grouped into
runs, each padded to its longest: on CPU texts of close lengths (`text_pipeline.padded_runs`:
at most config parameter `max_padding_tokens`, default 32, of padding per run, so a long
review never pads the short texts it arrived with; at concurrency 16 on 2 cores, 394
against 303 texts/s with one run per distinct length, `benchmarks.variants`), on GPU by
`pipeline.json`'s length buckets (so that calls from both instances batch in the
classifier's queue: Triton batches equal shapes only).

Threads (CPU): config parameter `intra_op_thread_count`, else env `SENTIMENT_ORT_THREADS`,
else the CPU count, in each of the config's instances. Two ONNX Runtime sessions on the
same file per instance:
- a lone request (nothing else was queued with it: the server is not busy) runs on one
  whose threads spin while a run lasts and stop at its end
  (`session.intra_op.allow_spinning` "1", `session.force_spinning_stop` "1");
- every other execute() runs on one whose threads sleep between operators
  (`session.intra_op.allow_spinning` "0"): under load a spinning pool takes the cores
  that the other instance, the gateway and Triton's own threads need.
On 2 cores (`python -m benchmarks.variants`, one run): p50 3.58 against 4.38 ms for a
lone sentence and 31.9 against 32.8 ms for a ~400-token review, with the same throughput
at concurrency 16 (390 and 407 texts/s, within the run's noise); spinning in every run
instead: 309 texts/s. 2 instances of 2 threads beat 1 thread (slower alone) and 1
instance (less throughput). Config parameter `spin_when_alone` "0" keeps one
session (less memory: the second holds its own copy of the weights); config
parameters named `session.*` are session config entries for both sessions.
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
    padded_runs,
)

MODEL_FILE = "model.onnx"
CLASSIFIER_PARAMETER = "classifier_model"
"""Config parameter: the classifier model to call through BLS (GPU); absent on CPU."""
MAX_PADDING_PARAMETER = "max_padding_tokens"
"""Config parameter (CPU): padding tokens a run may add (`text_pipeline.padded_runs`)."""
MAX_PADDING_DEFAULT = 32
THREADS_ENV = "SENTIMENT_ORT_THREADS"
SESSION_DEFAULTS = {"session.intra_op.allow_spinning": "0"}
"""ONNX Runtime session config entries unless the config's parameters name them."""
ALONE_SESSION = {"session.intra_op.allow_spinning": "1", "session.force_spinning_stop": "1"}
"""The lone request's session: threads spin while a run lasts (module docstring)."""
SPIN_WHEN_ALONE_PARAMETER = "spin_when_alone"


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
            self._runs: Any = lambda lengths: _by_key([bucket_of[n] for n in lengths])
            self._padded_length: Any = self.encoder.padding_length
        else:
            self.classifier = OnnxClassifier(version_dir / MODEL_FILE, config)
            padding = int(_parameter(config, MAX_PADDING_PARAMETER) or MAX_PADDING_DEFAULT)
            self._runs = lambda lengths: padded_runs(lengths, padding)
            self._padded_length = lambda rows: max(len(tokens) for tokens in rows)

    def execute(self, requests: list[Any]) -> list[Any]:
        encoded = self.encoder.encode(requests)
        valid = [rows for rows in encoded if not isinstance(rows, RequestError)]
        # Every text's row, in request order: its row in `logits` too
        all_rows = [tokens for request_rows in valid for tokens in request_rows]
        alone = len(requests) == 1
        logits = np.empty((len(all_rows), self.width), dtype=np.float32)
        failure = None
        try:
            for run in self._runs([len(tokens) for tokens in all_rows]):
                members = [all_rows[i] for i in run]
                input_ids, attention_mask = self.encoder.pad(members, self._padded_length(members))
                logits[run] = self.classifier.logits(input_ids, attention_mask, alone)
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


def _by_key(keys: list[int]) -> list[list[int]]:
    """The indices of `keys` grouped by equal key."""
    groups: dict[int, list[int]] = {}
    for index, key in enumerate(keys):
        groups.setdefault(key, []).append(index)
    return list(groups.values())


class OnnxClassifier:
    """ONNX Runtime in this process, on the version folder's model file (CPU)."""

    def __init__(self, path: Path, config: dict[str, Any]) -> None:
        if not path.is_file():
            raise pb_utils.TritonModelException(f"missing model file {path}")
        threads = _parameter(config, "intra_op_thread_count") or os.environ.get(THREADS_ENV)
        self.threads = int(threads) if threads else (os.cpu_count() or 1)
        entries = _session_entries(config)
        self.session = self._session(path, {**SESSION_DEFAULTS, **entries})
        self.alone_session = self.session
        if (_parameter(config, SPIN_WHEN_ALONE_PARAMETER) or "1") != "0":
            self.alone_session = self._session(path, {**entries, **ALONE_SESSION})

    def _session(self, path: Path, entries: dict[str, str]) -> ort.InferenceSession:
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        for key, value in entries.items():
            options.add_session_config_entry(key, value)
        return ort.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
        )

    def logits(self, input_ids: np.ndarray, attention_mask: np.ndarray, alone: bool) -> np.ndarray:
        """`alone`: the execute() holds one request (the session that spins in its runs)."""
        session = self.alone_session if alone else self.session
        (out,) = session.run(["logits"], {"input_ids": input_ids, "attention_mask": attention_mask})
        return out


class TritonClassifier:
    """The classifier model in Triton at this model's own version, through BLS (GPU)."""

    def __init__(self, model: str, version: int) -> None:
        self.model = model
        self.version = version
        self.memory = pb_utils.PreferredMemory(pb_utils.TRITONSERVER_MEMORY_CPU, 0)

    def logits(self, input_ids: np.ndarray, attention_mask: np.ndarray, alone: bool) -> np.ndarray:
        """`alone` is for the CPU classifier: Triton schedules the classifier's runs."""
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
