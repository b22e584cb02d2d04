"""CPU `onnxruntime` backend for Triton, written as a Python-based backend.

Triton loads `<backend-dir>/onnxruntime/model.py` for models whose config says
`backend: "onnxruntime"` when no native `libtriton_onnxruntime.so` is installed, so the
same model repository runs here on CPU and unchanged on an NGC GPU image (where the
native backend takes over). Self-contained: numpy, onnxruntime, triton_python_backend_utils
and `cpu_backend` (../shared/cpu_backend.py, copied next to this file by the launcher).

Each `execute()` call stacks all requests into one batch, runs the session once and
splits the outputs back per request (`cpu_backend.execute_batched`).

Threads: config parameter `intra_op_thread_count` (the native backend's name), else
env `SENTIMENT_ORT_THREADS`, else min(4, CPU count).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import onnxruntime as ort
import triton_python_backend_utils as pb_utils
from cpu_backend import (
    Outputs,
    execute_batched,
    load_config,
    model_file,
    thread_count,
)

DEFAULT_MODEL_FILE = "model.onnx"
THREADS_PARAMETER = "intra_op_thread_count"
THREADS_ENV = "SENTIMENT_ORT_THREADS"


class TritonPythonModel:
    """Runs `model.onnx` from the version folder with ONNX Runtime on CPU."""

    def initialize(self, args: dict[str, str]) -> None:
        config = load_config(args)
        self.inputs = [t["name"] for t in config["input"]]
        self.outputs = [(t["name"], t["data_type"]) for t in config["output"]]
        path = model_file(args, config, DEFAULT_MODEL_FILE)
        options = ort.SessionOptions()
        options.intra_op_num_threads = thread_count(config, THREADS_PARAMETER, THREADS_ENV)
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
        )
        session_inputs = {i.name for i in self.session.get_inputs()}
        session_outputs = {o.name for o in self.session.get_outputs()}
        missing = [n for n in self.inputs if n not in session_inputs]
        missing += [n for n, _ in self.outputs if n not in session_outputs]
        if missing:
            raise pb_utils.TritonModelException(
                f"{path.name} has no tensors named {missing} "
                f"(inputs {sorted(session_inputs)}, outputs {sorted(session_outputs)})"
            )

    def _run(self, batch: list[np.ndarray]) -> Outputs:
        feed = dict(zip(self.inputs, batch, strict=True))
        values = self.session.run([name for name, _ in self.outputs], feed)
        return [
            (name, value.astype(pb_utils.triton_string_to_numpy(data_type), copy=False))
            for (name, data_type), value in zip(self.outputs, values, strict=True)
        ]

    def execute(self, requests: list[Any]) -> list[Any]:
        """One session run for all requests, split back per request."""
        return execute_batched(requests, self.inputs, self._run, "onnxruntime")

    def finalize(self) -> None:
        self.session = None
