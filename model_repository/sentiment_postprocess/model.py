"""Triton Python model: logits -> PROBABILITIES (softmax), SCORE (max), LABEL (string).

Self-contained (runs in Triton's stub interpreter): numpy and triton_python_backend_utils
only. Label names (in logit order) come from `labels` in the version folder's
`pipeline.json` (the pipeline contract the export wrote); a missing or invalid file, or a
label count that is not the logits' width, fails the load. The logits of all requests are
concatenated and computed in one pass.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import triton_python_backend_utils as pb_utils

PIPELINE_FILE = "pipeline.json"
INPUT_NAME = "logits"
OUTPUTS = {"LABEL": "TYPE_STRING", "SCORE": "TYPE_FP32", "PROBABILITIES": "TYPE_FP32"}


def _error(message: str) -> Any:
    code = getattr(pb_utils.TritonError, "INVALID_ARG", None)
    if code is None:  # older stubs have no status codes
        return pb_utils.TritonError(message)
    return pb_utils.TritonError(message, code)


def read_labels(path: Path) -> list[str]:
    """The label names from the version's pipeline.json (TritonModelException if unusable)."""
    try:
        labels = json.loads(path.read_text())["labels"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise pb_utils.TritonModelException(
            f"{path}: missing or not the current format ({type(err).__name__}: {err}); "
            "re-export the model with `sentiment export`"
        ) from None
    names = isinstance(labels, list) and all(isinstance(x, str) and x for x in labels)
    if not names or len(set(labels)) != len(labels):
        raise pb_utils.TritonModelException(f"{path}: bad labels {labels!r}")
    return labels


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float32, stable for large logits."""
    shifted = logits.astype(np.float32) - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return (exp / exp.sum(axis=1, keepdims=True)).astype(np.float32)


class TritonPythonModel:
    """The postprocessing step of the `sentiment` ensemble."""

    def initialize(self, args: dict[str, str]) -> None:
        config = json.loads(args["model_config"])
        inputs = {t["name"]: t for t in config.get("input", [])}
        outputs = {t["name"]: t for t in config.get("output", [])}
        if INPUT_NAME not in inputs or inputs[INPUT_NAME]["data_type"] != "TYPE_FP32":
            raise pb_utils.TritonModelException(f"config needs a TYPE_FP32 input {INPUT_NAME}")
        for name, data_type in OUTPUTS.items():
            if name not in outputs or outputs[name]["data_type"] != data_type:
                raise pb_utils.TritonModelException(f"config needs a {data_type} output {name}")
        version_dir = Path(args["model_repository"]) / args["model_version"]
        labels = read_labels(version_dir / PIPELINE_FILE)
        width = int(inputs[INPUT_NAME]["dims"][-1])
        if len(labels) != width:
            raise pb_utils.TritonModelException(
                f"{PIPELINE_FILE} has {len(labels)} labels but logits have {width} classes"
            )
        self.labels = np.array([label.encode("utf-8") for label in labels], dtype=np.object_)
        self.width = width

    def execute(self, requests: list[Any]) -> list[Any]:
        """One softmax over the logits of all requests, split back per request."""
        arrays: list[np.ndarray | None] = []
        for request in requests:
            tensor = pb_utils.get_input_tensor_by_name(request, INPUT_NAME)
            array = None if tensor is None else tensor.as_numpy()
            ok = array is not None and array.ndim == 2 and array.shape[1] == self.width
            arrays.append(array if ok else None)
        valid = [a for a in arrays if a is not None]
        if valid:
            probabilities = softmax(np.concatenate(valid, axis=0))
            best = probabilities.argmax(axis=1)
        responses = []
        offset = 0
        for array in arrays:
            if array is None:
                message = f"input {INPUT_NAME} must have shape [batch, {self.width}]"
                responses.append(pb_utils.InferenceResponse(error=_error(message)))
                continue
            rows = slice(offset, offset + len(array))
            offset += len(array)
            probs = probabilities[rows]
            responses.append(
                pb_utils.InferenceResponse(
                    output_tensors=[
                        pb_utils.Tensor("LABEL", self.labels[best[rows]].reshape(-1, 1)),
                        pb_utils.Tensor("SCORE", probs.max(axis=1, keepdims=True)),
                        pb_utils.Tensor("PROBABILITIES", np.ascontiguousarray(probs)),
                    ]
                )
            )
        return responses
