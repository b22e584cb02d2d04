"""Triton Python model: TEXT -> input_ids, attention_mask padded to a length bucket.

The pipeline's tokenizer as a model of its own, for clients that call an ids-in
classifier (`sentiment_onnx`, `sentiment_onnx_int8`, `sentiment_torchscript`) themselves;
the text-in models tokenize inside their own step (the same `text_pipeline`). Runs in Triton's
stub interpreter on `text_pipeline` (copied next to this file by the publish): the
version's `pipeline.json` and `<tokenizer_dir>/tokenizer.json`; a missing or invalid
pipeline.json fails the load, naming the file.

All texts of all requests are tokenized in one call; each request is then padded to the
smallest of `length_buckets` (ascending, the last is max_length) that holds its longest
text, so requests of similar length share a shape and batch in the next step. Bad texts
(empty, not UTF-8, longer than max_length tokens without the request parameter
`truncation`) fail only their own request.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import triton_python_backend_utils as pb_utils
from text_pipeline import TEXT_INPUT, RequestError, TextEncoder, error_response

OUTPUT_NAMES = ("input_ids", "attention_mask")


class TritonPythonModel:
    """TEXT -> input_ids, attention_mask."""

    def initialize(self, args: dict[str, str]) -> None:
        config = json.loads(args["model_config"])
        inputs = {t["name"]: t for t in config.get("input", [])}
        outputs = {t["name"]: t for t in config.get("output", [])}
        if TEXT_INPUT not in inputs or inputs[TEXT_INPUT]["data_type"] != "TYPE_STRING":
            raise pb_utils.TritonModelException(f"config needs a TYPE_STRING input {TEXT_INPUT}")
        for name in OUTPUT_NAMES:
            if name not in outputs or outputs[name]["data_type"] != "TYPE_INT64":
                raise pb_utils.TritonModelException(f"config needs a TYPE_INT64 output {name}")
        if int(config.get("max_batch_size", 0)) < 1:
            raise pb_utils.TritonModelException("config must batch (max_batch_size >= 1)")
        self.encoder = TextEncoder(Path(args["model_repository"]) / args["model_version"])

    def execute(self, requests: list[Any]) -> list[Any]:
        """Tokenize every valid text of every request at once, then pad per request."""
        responses = []
        for rows in self.encoder.encode(requests):
            if isinstance(rows, RequestError):
                responses.append(error_response(str(rows)))
                continue
            input_ids, attention_mask = self.encoder.pad(rows, self.encoder.padding_length(rows))
            responses.append(
                pb_utils.InferenceResponse(
                    output_tensors=[
                        pb_utils.Tensor("input_ids", input_ids),
                        pb_utils.Tensor("attention_mask", attention_mask),
                    ]
                )
            )
        return responses

    def finalize(self) -> None:
        self.encoder = None
