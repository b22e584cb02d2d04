"""CPU `pytorch` backend for Triton, written as a Python-based backend.

Triton loads `<backend-dir>/pytorch/model.py` for models whose config says
`backend: "pytorch"` when no native `libtriton_pytorch.so` is installed, so the same model
repository runs here on CPU and unchanged on an NGC GPU image (where the native backend
takes over). Self-contained: numpy, torch, triton_python_backend_utils and `cpu_backend`
(../shared/cpu_backend.py, copied next to this file by the launcher).

Tensor names follow the native backend's `<name>__<index>` convention: inputs are passed
to the TorchScript module positionally by index, outputs are taken by index from the
returned tensor or tuple. Each `execute()` call stacks all requests into one batch, runs
once and splits the outputs back per request (`cpu_backend.execute_batched`).

Threads: config parameter `INTRA_OP_THREAD_COUNT` (the native backend's name), else env
`SENTIMENT_TORCH_THREADS`, else min(4, CPU count).

Speed: the module is frozen (torch.jit.freeze) at load. Warm-up: TorchScript's profiling
executor re-optimizes for the first shapes it sees (seconds
per new shape on CPU), so initialize() runs three dummy batches of different shapes first;
config parameter `WARMUP: "false"` skips it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import triton_python_backend_utils as pb_utils
from cpu_backend import (
    Outputs,
    execute_batched,
    load_config,
    model_file,
    parameter,
    thread_count,
)

DEFAULT_MODEL_FILE = "model.pt"
THREADS_PARAMETER = "INTRA_OP_THREAD_COUNT"
THREADS_ENV = "SENTIMENT_TORCH_THREADS"
WARMUP_PARAMETER = "WARMUP"
WARMUP_SHAPES = ((1, 16), (2, 32), (3, 64))


def _index(name: str) -> int:
    """`input_ids__0` -> 0: the position the native backend binds this tensor to."""
    _, sep, suffix = name.rpartition("__")
    if not sep or not suffix.isdigit():
        raise pb_utils.TritonModelException(f"tensor {name!r} must be named <name>__<index>")
    return int(suffix)


class TritonPythonModel:
    """Runs the TorchScript `model.pt` from the version folder on CPU."""

    def initialize(self, args: dict[str, str]) -> None:
        config = load_config(args)
        self.inputs = sorted((t["name"] for t in config["input"]), key=_index)
        self.outputs = sorted(
            ((t["name"], t["data_type"]) for t in config["output"]),
            key=lambda item: _index(item[0]),
        )
        path = model_file(args, config, DEFAULT_MODEL_FILE)
        torch.set_num_threads(thread_count(config, THREADS_PARAMETER, THREADS_ENV))
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
        if (parameter(config, WARMUP_PARAMETER) or "true").lower() != "false":
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

    def _run(self, batch: list[np.ndarray]) -> Outputs:
        with torch.inference_mode():
            result = self.module(*(torch.from_numpy(a) for a in batch))
        if isinstance(result, torch.Tensor):
            result = (result,)
        elif isinstance(result, dict):
            result = tuple(result.values())
        outputs = []
        for name, data_type in self.outputs:
            dtype = pb_utils.triton_string_to_numpy(data_type)
            outputs.append((name, result[_index(name)].detach().cpu().numpy().astype(dtype)))
        return outputs

    def execute(self, requests: list[Any]) -> list[Any]:
        """One forward pass for all requests, split back per request."""
        return execute_batched(requests, self.inputs, self._run, "pytorch")

    def finalize(self) -> None:
        self.module = None
