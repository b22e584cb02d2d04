"""CPU `onnxruntime` backend for Triton, written as a Python-based backend.

Triton loads `<backend-dir>/onnxruntime/model.py` for models whose config says
`backend: "onnxruntime"` when no native `libtriton_onnxruntime.so` is installed, so the
same model repository runs here on CPU and unchanged on an NGC GPU image (where the
native backend takes over). Self-contained: numpy, onnxruntime, triton_python_backend_utils.

Each `execute()` call stacks all requests into one batch (sequence axes padded with
zeros, which the attention mask turns off), runs the session once and splits the
outputs back per request. A bad request fails alone.

Threads: config parameter `intra_op_thread_count` (the native backend's name), else
env `SENTIMENT_ORT_THREADS`, else min(4, CPU count).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import triton_python_backend_utils as pb_utils

DEFAULT_MODEL_FILE = "model.onnx"
THREADS_PARAMETER = "intra_op_thread_count"
THREADS_ENV = "SENTIMENT_ORT_THREADS"


class RequestError(ValueError):
    """A request that cannot be served; its message goes to the client."""


def _error(message: str) -> Any:
    code = getattr(pb_utils.TritonError, "INVALID_ARG", None)
    if code is None:  # older stubs have no status codes
        return pb_utils.TritonError(message)
    return pb_utils.TritonError(message, code)


def _parameter(config: dict[str, Any], key: str) -> str | None:
    value = config.get("parameters", {}).get(key, {}).get("string_value")
    return value or None


def thread_count(config: dict[str, Any]) -> int:
    """Intra-op threads: config parameter, then environment, then a small default."""
    value = _parameter(config, THREADS_PARAMETER) or os.environ.get(THREADS_ENV)
    if value and int(value) > 0:
        return int(value)
    return max(1, min(4, os.cpu_count() or 1))


def stack_padded(arrays: list[np.ndarray]) -> np.ndarray:
    """Concatenate [n_i, ...] arrays on axis 0, zero-padding every other axis to the max."""
    shape = [max(a.shape[d] for a in arrays) for d in range(1, arrays[0].ndim)]
    if all(list(a.shape[1:]) == shape for a in arrays):
        return np.concatenate(arrays, axis=0)
    total = sum(a.shape[0] for a in arrays)
    out = np.zeros([total, *shape], dtype=arrays[0].dtype)
    offset = 0
    for a in arrays:
        out[(slice(offset, offset + a.shape[0]), *(slice(0, s) for s in a.shape[1:]))] = a
        offset += a.shape[0]
    return out


class TritonPythonModel:
    """Runs `model.onnx` from the version folder with ONNX Runtime on CPU."""

    def initialize(self, args: dict[str, str]) -> None:
        config = json.loads(args["model_config"])
        if int(config.get("max_batch_size", 0)) < 1:
            raise pb_utils.TritonModelException("config must batch (max_batch_size >= 1)")
        self.inputs = [(t["name"], t["data_type"]) for t in config.get("input", [])]
        self.outputs = [(t["name"], t["data_type"]) for t in config.get("output", [])]
        if not self.inputs or not self.outputs:
            raise pb_utils.TritonModelException("config must list inputs and outputs")

        filename = config.get("default_model_filename") or DEFAULT_MODEL_FILE
        path = Path(args["model_repository"]) / args["model_version"] / filename
        if not path.is_file():
            raise pb_utils.TritonModelException(f"missing model file {path}")
        options = ort.SessionOptions()
        options.intra_op_num_threads = thread_count(config)
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
        )
        session_inputs = {i.name for i in self.session.get_inputs()}
        session_outputs = {o.name for o in self.session.get_outputs()}
        missing = [n for n, _ in self.inputs if n not in session_inputs]
        missing += [n for n, _ in self.outputs if n not in session_outputs]
        if missing:
            raise pb_utils.TritonModelException(
                f"{path.name} has no tensors named {missing} "
                f"(inputs {sorted(session_inputs)}, outputs {sorted(session_outputs)})"
            )

    def _read(self, request: Any) -> dict[str, np.ndarray]:
        arrays = {}
        for name, _ in self.inputs:
            tensor = pb_utils.get_input_tensor_by_name(request, name)
            if tensor is None:
                raise RequestError(f"missing input {name}")
            arrays[name] = tensor.as_numpy()
        batch = {a.shape[0] for a in arrays.values()}
        if len(batch) != 1:
            raise RequestError(f"inputs disagree on the batch size: {sorted(batch)}")
        return arrays

    def execute(self, requests: list[Any]) -> list[Any]:
        """One session run for all requests, split back per request."""
        per_request: list[dict[str, np.ndarray] | RequestError] = []
        for request in requests:
            try:
                per_request.append(self._read(request))
            except RequestError as err:
                per_request.append(err)
        valid = [r for r in per_request if not isinstance(r, RequestError)]
        results: dict[str, np.ndarray] = {}
        failure = None
        if valid:
            feed = {name: stack_padded([r[name] for r in valid]) for name, _ in self.inputs}
            try:
                names = [name for name, _ in self.outputs]
                values = self.session.run(names, feed)
                results = {
                    name: value.astype(pb_utils.triton_string_to_numpy(data_type), copy=False)
                    for (name, data_type), value in zip(self.outputs, values, strict=True)
                }
            except Exception as err:  # the run failed for the whole batch
                failure = f"onnxruntime failed: {err}"

        responses = []
        offset = 0
        for item in per_request:
            if isinstance(item, RequestError):
                responses.append(pb_utils.InferenceResponse(error=_error(str(item))))
                continue
            if failure is not None:
                responses.append(pb_utils.InferenceResponse(error=pb_utils.TritonError(failure)))
                continue
            size = next(iter(item.values())).shape[0]
            tensors = [
                pb_utils.Tensor(name, np.ascontiguousarray(values[offset : offset + size]))
                for name, values in results.items()
            ]
            offset += size
            responses.append(pb_utils.InferenceResponse(output_tensors=tensors))
        return responses

    def finalize(self) -> None:
        self.session = None
