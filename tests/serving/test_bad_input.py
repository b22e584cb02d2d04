"""Bad input straight to Triton: a clear error per request, and the stub keeps serving."""

from __future__ import annotations

import numpy as np
import pytest
from tritonclient.utils import InferenceServerException

pytestmark = pytest.mark.triton

GOOD = np.array([[b"a gripping, beautifully acted film"]], dtype=np.object_)
LONG_TEXT = " ".join(["wonderful"] * 600)  # 602 tokens with [CLS] and [SEP]

CASES = {
    "empty": ({"TEXT": np.array([[b""]], dtype=np.object_)}, None, ["empty"]),
    "whitespace": ({"TEXT": np.array([[b"  \t "]], dtype=np.object_)}, None, ["empty"]),
    "over the token limit": (
        {"TEXT": np.array([[LONG_TEXT.encode()]], dtype=np.object_)},
        None,
        ["602 tokens", "over the limit of", "truncation"],
    ),
    "invalid utf-8": (
        {"TEXT": np.array([[b"good \xff\xfe movie"]], dtype=np.object_)},
        None,
        ["UTF-8"],
    ),
    "wrong datatype": ({"TEXT": np.array([[1.5]], dtype=np.float32)}, None, ["TEXT", "BYTES"]),
    "wrong shape": (
        {"TEXT": np.array([[b"good", b"movie"]], dtype=np.object_)},
        None,
        ["shape", "TEXT"],
    ),
}


def assert_good_request_succeeds(client) -> None:
    result = client.infer("sentiment", {"TEXT": GOOD}, ["LABEL", "PROBABILITIES"])
    assert result["PROBABILITIES"].shape == (1, 2)


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("model", ["sentiment", "sentiment_tokenizer"])
def test_bad_text_gets_a_clear_error_and_the_server_keeps_serving(client, model, case) -> None:
    inputs, _, fragments = CASES[case]
    with pytest.raises(InferenceServerException) as error:
        client.infer(model, inputs, ["LABEL"] if model == "sentiment" else ["input_ids"])
    message = error.value.message()
    for fragment in fragments:
        assert fragment in message, message
    assert_good_request_succeeds(client)


def test_bad_requests_fail_alone_in_a_batch(client) -> None:
    """Good and bad requests in flight together: only the bad ones fail."""
    texts = [b"great", b"", b"dull and lifeless", b"\xff", LONG_TEXT.encode(), b"fine"] * 4
    requests = [{"TEXT": np.array([[t]], dtype=np.object_)} for t in texts]
    results = client.infer_many("sentiment", requests, ["LABEL"])
    for text, result in zip(texts, results, strict=True):
        bad = text in (b"", b"\xff", LONG_TEXT.encode())
        assert isinstance(result, InferenceServerException) == bad, (text[:20], result)


def test_one_bad_text_fails_its_whole_request(client) -> None:
    text = np.array([[b"fine"], [b""]], dtype=np.object_)
    with pytest.raises(InferenceServerException, match=r"TEXT\[1\] is empty"):
        client.infer("sentiment", {"TEXT": text}, ["LABEL"])
    assert_good_request_succeeds(client)


@pytest.mark.parametrize("model", ["sentiment", "sentiment_int8"])
def test_a_long_text_is_truncated_when_the_request_asks(client, model) -> None:
    """Over the limit: refused by default; with `truncation` it is served as the text that
    the cut leaves (510 content tokens: head keeps the first 510, head_tail the first 127
    and the last 383), so each answer equals the answer for that shorter text."""
    text = np.array([[LONG_TEXT.encode()]], dtype=np.object_)
    with pytest.raises(InferenceServerException, match="602 tokens"):
        client.infer(model, {"TEXT": text}, ["LABEL"])

    def words(good: int, bad: int) -> dict[str, np.ndarray]:
        text = " ".join(["wonderful"] * good + ["awful"] * bad)  # one token each
        return {"TEXT": np.array([[text.encode()]], dtype=np.object_)}

    for truncation, kept in (("head", words(500, 10)), ("head_tail", words(410, 100))):
        cut = client.infer(
            model, words(500, 100), ["PROBABILITIES"], parameters={"truncation": truncation}
        )
        same = client.infer(model, kept, ["PROBABILITIES"])
        np.testing.assert_allclose(cut["PROBABILITIES"], same["PROBABILITIES"], atol=1e-6)
    with pytest.raises(InferenceServerException, match="truncation='tail'"):
        client.infer(model, {"TEXT": text}, ["LABEL"], parameters={"truncation": "tail"})
    assert_good_request_succeeds(client)
