"""CPU `pytorch` backend for Triton, written as a Python-based backend.

Triton loads `<backend-dir>/pytorch/model.py` for models whose config says
`backend: "pytorch"` when no native `libtriton_pytorch.so` is installed, so the same model
repository runs here on CPU and unchanged on an NGC GPU image (where the native backend
takes over). Self-contained: numpy, torch, triton_python_backend_utils.

Tensor names follow the native backend's `<name>__<index>` convention: inputs are passed
to the TorchScript module positionally by index, outputs are taken by index from the
returned tensor or tuple. Each `execute()` call stacks all requests into one batch
(sequence axes padded with zeros, which the attention mask turns off), runs once and
splits the outputs back per request. A bad request fails alone.

Threads: config parameter `INTRA_OP_THREAD_COUNT` (the native backend's name), else env
`SENTIMENT_TORCH_THREADS`, else min(4, CPU count).

Speed: the module is frozen (torch.jit.freeze) at load. Warm-up: TorchScript's profiling
executor re-optimizes for the first shapes it sees (seconds
per new shape on CPU), so initialize() runs three dummy batches of different shapes first;
config parameter `WARMUP: "false"` skips it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
import triton_python_backend_utils as pb_utils

DEFAULT_MODEL_FILE = "model.pt"
THREADS_PARAMETER = "INTRA_OP_THREAD_COUNT"
THREADS_ENV = "SENTIMENT_TORCH_THREADS"
WARMUP_PARAMETER = "WARMUP"
WARMUP_SHAPES = ((1, 16), (2, 32), (3, 64))


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


def _index(name: str) -> int:
    """`input_ids__0` -> 0: the position the native backend binds this tensor to."""
    _, sep, suffix = name.rpartition("__")
    if not sep or not suffix.isdigit():
        raise pb_utils.TritonModelException(f"tensor {name!r} must be named <name>__<index>")
    return int(suffix)


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
    """Runs the TorchScript `model.pt` from the version folder on CPU."""

    def initialize(self, args: dict[str, str]) -> None:
        config = json.loads(args["model_config"])
        if int(config.get("max_batch_size", 0)) < 1:
            raise pb_utils.TritonModelException("config must batch (max_batch_size >= 1)")
        self.inputs = sorted((t["name"] for t in config.get("input", [])), key=_index)
        self.outputs = sorted(
            ((t["name"], t["data_type"]) for t in config.get("output", [])),
            key=lambda item: _index(item[0]),
        )
        if not self.inputs or not self.outputs:
            raise pb_utils.TritonModelException("config must list inputs and outputs")

        filename = config.get("default_model_filename") or DEFAULT_MODEL_FILE
        path = Path(args["model_repository"]) / args["model_version"] / filename
        if not path.is_file():
            raise pb_utils.TritonModelException(f"missing model file {path}")
        torch.set_num_threads(thread_count(config))
        module = torch.jit.load(str(path), map_location="cpu").eval()
        try:
            # Frozen graphs (weights inlined) re-profile new shapes far faster: measured
            # here, 100 calls of mixed batch/length took 19 s unfrozen and 1.4-5.5 s frozen.
            module = torch.jit.freeze(module)
        except Exception as err:  # a module freeze cannot handle still runs unfrozen
            logger = getattr(pb_utils, "Logger", None)
            if logger is not None:
                logger.log_warn(f"torch.jit.freeze failed, running unfrozen: {err}")
        self.module = module
        if (_parameter(config, WARMUP_PARAMETER) or "true").lower() != "false":
            self._warm_up(config)

    def _warm_up(self, config: dict[str, Any]) -> None:
        """Run dummy batches of a few shapes (variable dims set to 16, 32, 64)."""
        specs = {t["name"]: t for t in config["input"]}
        for batch, length in WARMUP_SHAPES:
            arrays = []
            for name in self.inputs:
                dims = [length if int(d) < 0 else int(d) for d in specs[name]["dims"]]
                dtype = pb_utils.triton_string_to_numpy(specs[name]["data_type"])
                arrays.append(np.ones([batch, *dims], dtype=dtype))
            self._run(arrays)

    def _read(self, request: Any) -> list[np.ndarray]:
        arrays = []
        for name in self.inputs:
            tensor = pb_utils.get_input_tensor_by_name(request, name)
            if tensor is None:
                raise RequestError(f"missing input {name}")
            arrays.append(tensor.as_numpy())
        batch = {a.shape[0] for a in arrays}
        if len(batch) != 1:
            raise RequestError(f"inputs disagree on the batch size: {sorted(batch)}")
        return arrays

    def _run(self, batch: list[np.ndarray]) -> list[np.ndarray]:
        with torch.inference_mode():
            result = self.module(*(torch.from_numpy(a) for a in batch))
        if isinstance(result, torch.Tensor):
            result = (result,)
        elif isinstance(result, dict):
            result = tuple(result.values())
        outputs = []
        for name, data_type in self.outputs:
            dtype = pb_utils.triton_string_to_numpy(data_type)
            outputs.append(result[_index(name)].detach().cpu().numpy().astype(dtype))
        return outputs

    def execute(self, requests: list[Any]) -> list[Any]:
        """One forward pass for all requests, split back per request."""
        per_request: list[list[np.ndarray] | RequestError] = []
        for request in requests:
            try:
                per_request.append(self._read(request))
            except RequestError as err:
                per_request.append(err)
        valid = [r for r in per_request if not isinstance(r, RequestError)]
        results: list[np.ndarray] = []
        failure = None
        if valid:
            batch = [stack_padded([r[i] for r in valid]) for i in range(len(self.inputs))]
            try:
                results = self._run(batch)
            except Exception as err:  # the run failed for the whole batch
                failure = f"pytorch failed: {err}"

        responses = []
        offset = 0
        for item in per_request:
            if isinstance(item, RequestError):
                responses.append(pb_utils.InferenceResponse(error=_error(str(item))))
                continue
            if failure is not None:
                responses.append(pb_utils.InferenceResponse(error=pb_utils.TritonError(failure)))
                continue
            size = item[0].shape[0]
            tensors = [
                pb_utils.Tensor(name, np.ascontiguousarray(values[offset : offset + size]))
                for (name, _), values in zip(self.outputs, results, strict=True)
            ]
            offset += size
            responses.append(pb_utils.InferenceResponse(output_tensors=tensors))
        return responses

    def finalize(self) -> None:
        self.module = None
