"""What the repository's Python models share: the served text contract, in Triton's stub.

Not a model (Triton treats only folders as models): `export.publish` copies this file into
the version folder of every Python model, next to its model.py, and the stub puts that
folder on `sys.path`. Self-contained: numpy, tokenizers and triton_python_backend_utils.

- `read_pipeline`: the version's `pipeline.json` (labels, token limit, padding lengths,
  tokenizer folder); a missing or invalid file fails the load, naming the file.
- `TextEncoder`: TEXT tensors -> token ids; a text over the token limit is refused, or
  truncated when the request asks for it (request parameter `truncation`: `head` keeps the
  first B content tokens, `head_tail` the first B//4 and the last B - B//4, where B is the
  limit less the special tokens); `pad` lays rows out at a padding length.
- `padded_runs`: rows grouped into runs of similar length (CPU batching).
- `Postprocess`: logits -> LABEL, SCORE, PROBABILITIES.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import triton_python_backend_utils as pb_utils
from tokenizers import Encoding, Tokenizer

PIPELINE_FILE = "pipeline.json"
TEXT_INPUT = "TEXT"
TRUNCATION_PARAMETER = "truncation"
TRUNCATIONS = ("none", "head", "head_tail")
"""Values of the `truncation` request parameter; absent means `none`: refuse long texts."""


class RequestError(ValueError):
    """A request that cannot be served; its message goes to the client."""


def invalid_argument(message: str) -> Any:
    """A TritonError with status INVALID_ARG (a plain one on stubs without status codes)."""
    code = getattr(pb_utils.TritonError, "INVALID_ARG", None)
    if code is None:
        return pb_utils.TritonError(message)
    return pb_utils.TritonError(message, code)


def error_response(message: str) -> Any:
    return pb_utils.InferenceResponse(error=invalid_argument(message))


@dataclass(frozen=True)
class Pipeline:
    """The fields of a version's pipeline.json that the served models use."""

    max_length: int
    length_buckets: list[int]
    tokenizer_dir: str
    labels: list[str]


def _bad(path: Path, message: str) -> Exception:
    return pb_utils.TritonModelException(f"{path}: {message}")


def read_pipeline(path: Path) -> Pipeline:
    """The version's pipeline.json (TritonModelException, failing the load, if unusable;
    `contract.pipeline` in the project checks the same when writing it)."""
    try:
        document = json.loads(path.read_text())
        pipeline = Pipeline(
            document["max_length"],
            document["length_buckets"],
            document["tokenizer_dir"],
            document["labels"],
        )
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise _bad(
            path,
            f"missing or not the current format ({type(err).__name__}: {err}); "
            "re-export the model with `sentiment export`",
        ) from None
    max_length, buckets = pipeline.max_length, pipeline.length_buckets
    if not isinstance(max_length, int) or max_length < 2:
        raise _bad(path, f"bad max_length {max_length!r}")
    positive = isinstance(buckets, list) and all(isinstance(b, int) and b > 0 for b in buckets)
    if not positive or not buckets or buckets[-1] != max_length or buckets != sorted(set(buckets)):
        raise _bad(path, f"length_buckets {buckets!r} must ascend to max_length {max_length}")
    folder = pipeline.tokenizer_dir
    if not isinstance(folder, str) or not folder or "/" in folder:
        raise _bad(path, f"bad tokenizer_dir {folder!r}")
    labels = pipeline.labels
    names = isinstance(labels, list) and all(isinstance(x, str) and x for x in labels)
    if not names or len(set(labels)) != len(labels):
        raise _bad(path, f"bad labels {labels!r}")
    return pipeline


def decode_texts(values: np.ndarray) -> list[str]:
    """A request's TEXT tensor (bytes objects, shape [n, 1]) as strings."""
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


def truncation_of(request: Any) -> str:
    """The request's `truncation` parameter (`none` when absent); RequestError if unknown."""
    raw = request.parameters() if hasattr(request, "parameters") else "{}"
    try:
        value = json.loads(raw or "{}").get(TRUNCATION_PARAMETER, "none")
    except (ValueError, AttributeError):
        value = "none"
    if value not in TRUNCATIONS:
        raise RequestError(
            f"request parameter {TRUNCATION_PARAMETER}={value!r} is not one of {list(TRUNCATIONS)}"
        )
    return str(value)


def _pad_id(tokenizer: Tokenizer, folder: Path) -> int:
    """The pad token id named by tokenizer_config.json (BERT: [PAD] = 0)."""
    config_file = folder / "tokenizer_config.json"
    pad_token = "[PAD]"
    if config_file.is_file():
        value = json.loads(config_file.read_text()).get("pad_token") or pad_token
        pad_token = value["content"] if isinstance(value, dict) else str(value)
    pad_id = tokenizer.token_to_id(pad_token)
    return 0 if pad_id is None else int(pad_id)


def fit(encoding: Encoding, max_length: int, truncation: str, index: int) -> list[int]:
    """A text's ids within `max_length`: as they are, truncated as asked, or RequestError.

    Truncation keeps the special tokens at both ends and cuts the content between them.
    """
    ids = encoding.ids
    if len(ids) <= max_length:
        return ids
    if truncation == "none":
        raise RequestError(
            f"TEXT[{index}] has {len(ids)} tokens, over the limit of {max_length} tokens "
            "(set truncation to head or head_tail to cut it instead)"
        )
    special = encoding.special_tokens_mask
    lead = next((i for i, s in enumerate(special) if not s), len(ids))
    trail = next((i for i, s in enumerate(reversed(special)) if not s), 0)
    content = ids[lead : len(ids) - trail]
    budget = max_length - lead - trail
    if truncation == "head":
        kept = content[:budget]
    else:
        head = budget // 4
        kept = content[:head] + content[len(content) - (budget - head) :]
    return ids[:lead] + kept + ids[len(ids) - trail :]


class TextEncoder:
    """TEXT -> token ids within the limit, with the version's tokenizer and padding lengths."""

    def __init__(self, version_dir: Path) -> None:
        self.pipeline = read_pipeline(version_dir / PIPELINE_FILE)
        folder = version_dir / self.pipeline.tokenizer_dir
        tokenizer_file = folder / "tokenizer.json"
        if not tokenizer_file.is_file():
            raise pb_utils.TritonModelException(f"missing {tokenizer_file}")
        self.tokenizer = Tokenizer.from_file(str(tokenizer_file))
        # Refusing a long text needs its full length: the tokenizer never truncates itself.
        self.tokenizer.no_truncation()
        self.tokenizer.no_padding()
        self.pad_id = _pad_id(self.tokenizer, folder)

    def encode(self, requests: list[Any]) -> list[list[list[int]] | RequestError]:
        """Each request's rows of token ids, or the RequestError that refuses it alone.
        All texts of all requests are tokenized in one call."""
        texts_per_request: list[list[str] | RequestError] = []
        truncations: list[str] = []
        flat: list[str] = []
        for request in requests:
            try:
                tensor = pb_utils.get_input_tensor_by_name(request, TEXT_INPUT)
                if tensor is None:
                    raise RequestError(f"missing input {TEXT_INPUT}")
                texts = decode_texts(tensor.as_numpy())
                truncations.append(truncation_of(request))
            except RequestError as err:
                texts_per_request.append(err)
                continue
            texts_per_request.append(texts)
            flat.extend(texts)
        # One text (the common call) skips encode_batch's thread pool hand-off.
        if len(flat) == 1:
            encodings = [self.tokenizer.encode(flat[0])]
        else:
            encodings = self.tokenizer.encode_batch(flat) if flat else []
        results: list[list[list[int]] | RequestError] = []
        offset = 0
        served = iter(truncations)
        for texts in texts_per_request:
            if isinstance(texts, RequestError):
                results.append(texts)
                continue
            truncation = next(served)
            mine = encodings[offset : offset + len(texts)]
            offset += len(texts)
            try:
                limit = self.pipeline.max_length
                results.append([fit(e, limit, truncation, i) for i, e in enumerate(mine)])
            except RequestError as err:
                results.append(err)
        return results

    def padding_length(self, rows: list[list[int]]) -> int:
        """The smallest padding length holding the longest row (the last is max_length)."""
        longest = max(len(row) for row in rows)
        return next(b for b in self.pipeline.length_buckets if b >= longest)

    def pad(self, rows: list[list[int]], length: int) -> tuple[np.ndarray, np.ndarray]:
        """(input_ids, attention_mask), int64 [len(rows), length], pad ids masked off."""
        input_ids = np.full((len(rows), length), self.pad_id, dtype=np.int64)
        attention_mask = np.zeros((len(rows), length), dtype=np.int64)
        for row, tokens in enumerate(rows):
            input_ids[row, : len(tokens)] = tokens
            attention_mask[row, : len(tokens)] = 1
        return input_ids, attention_mask


def padded_runs(lengths: list[int], max_padding: int) -> list[list[int]]:
    """The rows (indices into `lengths`) grouped into runs, each to be padded to its longest.

    Rows are taken shortest first; a run grows while padding all of its rows to the new
    row's length adds at most `max_padding` tokens in all. On CPU a run has a fixed cost
    (about as much as 40 tokens of MiniLM) besides its tokens, so texts of close lengths
    share a run, while a long review never pads the short texts queued with it
    (`max_padding` 0: one run per distinct length).
    """
    runs: list[list[int]] = []
    run: list[int] = []
    tokens = 0
    for index in sorted(range(len(lengths)), key=lengths.__getitem__):
        length = lengths[index]
        if run and (len(run) + 1) * length - (tokens + length) > max_padding:
            runs.append(run)
            run, tokens = [], 0
        run.append(index)
        tokens += length
    if run:
        runs.append(run)
    return runs


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float32, stable for large logits."""
    shifted = logits.astype(np.float32) - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return (exp / exp.sum(axis=1, keepdims=True)).astype(np.float32)


class Postprocess:
    """Logits -> the LABEL, SCORE and PROBABILITIES tensors of the text-in models."""

    def __init__(self, labels: list[str]) -> None:
        self.labels = np.array([label.encode("utf-8") for label in labels], dtype=np.object_)

    def per_request(self, logits: np.ndarray, counts: list[int]) -> list[list[Any]]:
        """Each request's output tensors from the logits of all of them (rows in request
        order, `counts[i]` rows for request i): one softmax and argmax over every row."""
        probabilities = softmax(logits)
        labels = self.labels[probabilities.argmax(axis=1)].reshape(-1, 1)
        scores = probabilities.max(axis=1, keepdims=True)
        tensors, start = [], 0
        for count in counts:
            end = start + count
            tensors.append(
                [
                    pb_utils.Tensor("LABEL", labels[start:end]),
                    pb_utils.Tensor("SCORE", scores[start:end]),
                    pb_utils.Tensor("PROBABILITIES", probabilities[start:end]),
                ]
            )
            start = end
        return tensors
