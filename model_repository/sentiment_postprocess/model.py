"""Triton Python model: logits -> PROBABILITIES (softmax), SCORE (max), LABEL (string).

The pipeline's postprocessing as a model of its own, for clients of an ids-in classifier
(the text-in models apply the same `text_pipeline` softmax inside their own step). Runs in
Triton's stub interpreter on `text_pipeline`
(copied next to this file by the publish). Label names (in logit order) come from `labels`
in the version folder's `pipeline.json`; a missing or invalid file, or a label count that
is not the logits' width, fails the load. The logits of all requests are concatenated and
computed in one pass.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import triton_python_backend_utils as pb_utils
from text_pipeline import PIPELINE_FILE, Postprocess, error_response, read_pipeline

INPUT_NAME = "logits"
OUTPUTS = {"LABEL": "TYPE_STRING", "SCORE": "TYPE_FP32", "PROBABILITIES": "TYPE_FP32"}


class TritonPythonModel:
    """logits -> LABEL, SCORE, PROBABILITIES."""

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
        labels = read_pipeline(version_dir / PIPELINE_FILE).labels
        width = int(inputs[INPUT_NAME]["dims"][-1])
        if len(labels) != width:
            raise pb_utils.TritonModelException(
                f"{PIPELINE_FILE} has {len(labels)} labels but logits have {width} classes"
            )
        self.postprocess = Postprocess(labels)
        self.width = width

    def execute(self, requests: list[Any]) -> list[Any]:
        """One softmax over the logits of all requests, split back per request."""
        arrays: list[np.ndarray | None] = []
        for request in requests:
            tensor = pb_utils.get_input_tensor_by_name(request, INPUT_NAME)
            array = None if tensor is None else tensor.as_numpy()
            ok = array is not None and array.ndim == 2 and array.shape[1] == self.width
            arrays.append(array if ok else None)
        valid = [array for array in arrays if array is not None]
        outputs = iter(
            self.postprocess.per_request(
                np.concatenate(valid) if valid else np.empty((0, self.width), np.float32),
                [len(array) for array in valid],
            )
        )
        responses = []
        for array in arrays:
            if array is None:
                message = f"input {INPUT_NAME} must have shape [batch, {self.width}]"
                responses.append(error_response(message))
            else:
                responses.append(pb_utils.InferenceResponse(output_tensors=next(outputs)))
        return responses
