"""What the Python-based CPU backends (`onnxruntime/`, `pytorch/`) have in common.

Triton loads each backend's model.py on its own, from `<backend-dir>/<name>/`. The
launcher (`serving.tritonserver.build_backend_directory`) copies this file next to each
model.py, and the Python backend stub puts that folder on `sys.path`, so both import it
as `cpu_backend`. Self-contained: numpy and triton_python_backend_utils only.

`execute_batched` is the batching both share: every request's inputs are read (a bad
request fails alone), the valid ones are stacked into one batch (sequence axes padded with
zeros, which the attention mask turns off), the model runs once, and its outputs are
split back per request.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import triton_python_backend_utils as pb_utils

Outputs = list[tuple[str, np.ndarray]]
"""A run's outputs: (tensor name, [batch, ...] array), in the config's output order."""


class RequestError(ValueError):
    """A request that cannot be served; its message goes to the client."""


def invalid_argument(message: str) -> Any:
    """A TritonError with status INVALID_ARG (a plain one on stubs without status codes)."""
    code = getattr(pb_utils.TritonError, "INVALID_ARG", None)
    if code is None:
        return pb_utils.TritonError(message)
    return pb_utils.TritonError(message, code)


def load_config(args: dict[str, str]) -> dict[str, Any]:
    """The model config Triton passes to initialize(); it must batch."""
    config: dict[str, Any] = json.loads(args["model_config"])
    if int(config.get("max_batch_size", 0)) < 1:
        raise pb_utils.TritonModelException("config must batch (max_batch_size >= 1)")
    if not config.get("input") or not config.get("output"):
        raise pb_utils.TritonModelException("config must list inputs and outputs")
    return config


def parameter(config: dict[str, Any], key: str) -> str | None:
    """A config `parameters` entry's string value (None when unset or empty)."""
    value = config.get("parameters", {}).get(key, {}).get("string_value")
    return value or None


def thread_count(config: dict[str, Any], key: str, env: str) -> int:
    """Intra-op threads: config parameter `key`, then environment `env`, then min(4, CPUs)."""
    value = parameter(config, key) or os.environ.get(env)
    if value and int(value) > 0:
        return int(value)
    return max(1, min(4, os.cpu_count() or 1))


def model_file(args: dict[str, str], config: dict[str, Any], default: str) -> Path:
    """The model file in the version folder (`default_model_filename`, else `default`)."""
    filename = config.get("default_model_filename") or default
    path = Path(args["model_repository"]) / args["model_version"] / filename
    if not path.is_file():
        raise pb_utils.TritonModelException(f"missing model file {path}")
    return path


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


def read_inputs(request: Any, names: Sequence[str]) -> list[np.ndarray]:
    """A request's input arrays in the order of `names`; they must share the batch size."""
    arrays = []
    for name in names:
        tensor = pb_utils.get_input_tensor_by_name(request, name)
        if tensor is None:
            raise RequestError(f"missing input {name}")
        arrays.append(tensor.as_numpy())
    batch = {a.shape[0] for a in arrays}
    if len(batch) != 1:
        raise RequestError(f"inputs disagree on the batch size: {sorted(batch)}")
    return arrays


def execute_batched(
    requests: list[Any],
    input_names: Sequence[str],
    run: Callable[[list[np.ndarray]], Outputs],
    backend: str,
) -> list[Any]:
    """One `run` over the stacked inputs of all valid requests, split back per request."""
    per_request: list[list[np.ndarray] | RequestError] = []
    for request in requests:
        try:
            per_request.append(read_inputs(request, input_names))
        except RequestError as err:
            per_request.append(err)
    valid = [r for r in per_request if not isinstance(r, RequestError)]
    results: Outputs = []
    failure = None
    if valid:
        batch = [stack_padded([r[i] for r in valid]) for i in range(len(input_names))]
        try:
            results = run(batch)
        except Exception as err:  # the run failed for the whole batch
            failure = f"{backend} failed: {err}"

    responses = []
    offset = 0
    for item in per_request:
        if isinstance(item, RequestError):
            responses.append(pb_utils.InferenceResponse(error=invalid_argument(str(item))))
            continue
        if failure is not None:
            responses.append(pb_utils.InferenceResponse(error=pb_utils.TritonError(failure)))
            continue
        size = item[0].shape[0]
        tensors = [
            pb_utils.Tensor(name, np.ascontiguousarray(values[offset : offset + size]))
            for name, values in results
        ]
        offset += size
        responses.append(pb_utils.InferenceResponse(output_tensors=tensors))
    return responses
