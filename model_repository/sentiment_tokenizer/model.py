"""Triton Python model: TEXT -> input_ids, attention_mask padded to a length bucket.

Self-contained (runs in Triton's stub interpreter): imports only numpy, tokenizers and
triton_python_backend_utils. Files come from its version folder: `pipeline.json` (the
pipeline contract the export wrote: `max_length`, `length_buckets`, `tokenizer_dir`) and
the Hugging Face fast tokenizer (`<tokenizer_dir>/tokenizer.json`). A missing or invalid
pipeline.json fails the load, naming the file.

All texts of all requests are tokenized in one call; each request is then padded to the
smallest of `length_buckets` (ascending, the last is max_length) that holds its longest
text, so requests of similar length share a shape and batch in the next step. Bad texts
(empty, not UTF-8, longer than max_length tokens) fail only their own request: never
truncated.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import triton_python_backend_utils as pb_utils
from tokenizers import Tokenizer

PIPELINE_FILE = "pipeline.json"
INPUT_NAME = "TEXT"
OUTPUT_NAMES = ("input_ids", "attention_mask")


class RequestError(ValueError):
    """A request that cannot be served; its message goes to the client."""


def _error(message: str) -> Any:
    code = getattr(pb_utils.TritonError, "INVALID_ARG", None)
    if code is None:  # older stubs have no status codes
        return pb_utils.TritonError(message)
    return pb_utils.TritonError(message, code)


def read_pipeline(path: Path) -> tuple[int, list[int], str]:
    """(max_length, length_buckets, tokenizer_dir) from the version's pipeline.json.

    Raises TritonModelException (failing the load) when the file is missing or breaks the
    contract (`contract.pipeline` in the project checks the same when writing it).
    """
    try:
        pipeline = json.loads(path.read_text())
        max_length = pipeline["max_length"]
        buckets = pipeline["length_buckets"]
        tokenizer_dir = pipeline["tokenizer_dir"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise pb_utils.TritonModelException(
            f"{path}: missing or not the current format ({type(err).__name__}: {err}); "
            "re-export the model with `sentiment export`"
        ) from None
    if not isinstance(max_length, int) or max_length < 2:
        raise pb_utils.TritonModelException(f"{path}: bad max_length {max_length!r}")
    positive = isinstance(buckets, list) and all(isinstance(b, int) and b > 0 for b in buckets)
    if not positive or not buckets or buckets[-1] != max_length or buckets != sorted(set(buckets)):
        raise pb_utils.TritonModelException(
            f"{path}: length_buckets {buckets!r} must ascend to max_length {max_length}"
        )
    if not isinstance(tokenizer_dir, str) or not tokenizer_dir or "/" in tokenizer_dir:
        raise pb_utils.TritonModelException(f"{path}: bad tokenizer_dir {tokenizer_dir!r}")
    return max_length, buckets, tokenizer_dir


def decode_texts(values: np.ndarray) -> list[str]:
    """Turn a request's TEXT tensor (bytes objects, any shape [n, 1]) into strings."""
    texts = []
    for index, raw in enumerate(values.reshape(-1)):
        if isinstance(raw, bytes):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                raise RequestError(f"TEXT[{index}] is not valid UTF-8 (byte {err.start})") from None
        else:
            text = str(raw)
        if not text.strip():
            raise RequestError(f"TEXT[{index}] is empty or only whitespace")
        texts.append(text)
    return texts


def _pad_id(tokenizer: Tokenizer, folder: Path) -> int:
    """The pad token id named by tokenizer_config.json (BERT: [PAD] = 0)."""
    config_file = folder / "tokenizer_config.json"
    pad_token = "[PAD]"
    if config_file.is_file():
        value = json.loads(config_file.read_text()).get("pad_token") or pad_token
        pad_token = value["content"] if isinstance(value, dict) else str(value)
    pad_id = tokenizer.token_to_id(pad_token)
    return 0 if pad_id is None else int(pad_id)


class TritonPythonModel:
    """The tokenizer step of the `sentiment` ensemble."""

    def initialize(self, args: dict[str, str]) -> None:
        config = json.loads(args["model_config"])
        inputs = {t["name"]: t for t in config.get("input", [])}
        outputs = {t["name"]: t for t in config.get("output", [])}
        if INPUT_NAME not in inputs or inputs[INPUT_NAME]["data_type"] != "TYPE_STRING":
            raise pb_utils.TritonModelException(f"config needs a TYPE_STRING input {INPUT_NAME}")
        for name in OUTPUT_NAMES:
            if name not in outputs or outputs[name]["data_type"] != "TYPE_INT64":
                raise pb_utils.TritonModelException(f"config needs a TYPE_INT64 output {name}")
        if int(config.get("max_batch_size", 0)) < 1:
            raise pb_utils.TritonModelException("config must batch (max_batch_size >= 1)")

        version_dir = Path(args["model_repository"]) / args["model_version"]
        self.max_length, self.buckets, folder = read_pipeline(version_dir / PIPELINE_FILE)
        tokenizer_file = version_dir / folder / "tokenizer.json"
        if not tokenizer_file.is_file():
            raise pb_utils.TritonModelException(f"missing {tokenizer_file}")
        self.tokenizer = Tokenizer.from_file(str(tokenizer_file))
        # Rejecting long texts needs their full length: never let the tokenizer truncate.
        self.tokenizer.no_truncation()
        self.tokenizer.no_padding()
        self.pad_id = _pad_id(self.tokenizer, version_dir / folder)

    def execute(self, requests: list[Any]) -> list[Any]:
        """Tokenize every valid text of every request at once, then pad per request."""
        texts_per_request: list[list[str] | RequestError] = []
        flat: list[str] = []
        for request in requests:
            try:
                tensor = pb_utils.get_input_tensor_by_name(request, INPUT_NAME)
                if tensor is None:
                    raise RequestError(f"missing input {INPUT_NAME}")
                texts = decode_texts(tensor.as_numpy())
            except RequestError as err:
                texts_per_request.append(err)
                continue
            texts_per_request.append(texts)
            flat.extend(texts)

        encodings = self.tokenizer.encode_batch(flat) if flat else []
        responses = []
        offset = 0
        for texts in texts_per_request:
            if isinstance(texts, RequestError):
                responses.append(pb_utils.InferenceResponse(error=_error(str(texts))))
                continue
            ids = [encodings[offset + i].ids for i in range(len(texts))]
            offset += len(texts)
            try:
                responses.append(self._response(ids))
            except RequestError as err:
                responses.append(pb_utils.InferenceResponse(error=_error(str(err))))
        return responses

    def _response(self, ids: list[list[int]]) -> Any:
        longest = max(len(row) for row in ids)
        if longest > self.max_length:
            index = max(range(len(ids)), key=lambda i: len(ids[i]))
            raise RequestError(
                f"TEXT[{index}] has {longest} tokens, over the limit of {self.max_length} "
                "tokens (texts are never truncated)"
            )
        length = next(b for b in self.buckets if b >= longest)  # the last is max_length
        input_ids = np.full((len(ids), length), self.pad_id, dtype=np.int64)
        attention_mask = np.zeros((len(ids), length), dtype=np.int64)
        for row, tokens in enumerate(ids):
            input_ids[row, : len(tokens)] = tokens
            attention_mask[row, : len(tokens)] = 1
        return pb_utils.InferenceResponse(
            output_tensors=[
                pb_utils.Tensor("input_ids", input_ids),
                pb_utils.Tensor("attention_mask", attention_mask),
            ]
        )

    def finalize(self) -> None:
        self.tokenizer = None
