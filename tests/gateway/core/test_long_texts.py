"""Long texts through a real gateway (Triton down: a text that passes validation ends in
UNAVAILABLE): the limit is the model's 512 tokens, never a number of characters; over it a
text is refused with a field violation unless the request asks for truncation; the
analysis of a long text leaves the event loop free."""

from __future__ import annotations

import asyncio
import shutil
import time
from pathlib import Path
from typing import Any

import grpc
import pytest

from api.generated.sentiment.v1 import sentiment_pb2 as pb
from client.sdk import error_details
from contract.layout import PIPELINE_FILE
from contract.pipeline import Pipeline
from gateway.core.text import TextAnalyzer
from gateway.settings import GatewaySettings
from tests.gateway.conftest import WORDS, RunningGateway, auth

LIMIT = 512
INVALID = grpc.StatusCode.INVALID_ARGUMENT
UNAVAILABLE = grpc.StatusCode.UNAVAILABLE
DEFAULT_MESSAGE_BYTES = GatewaySettings.model_fields["max_message_bytes"].default
TRUNCATING = (pb.TRUNCATION_HEAD, pb.TRUNCATION_HEAD_TAIL)


def words(count: int) -> str:
    """`count` known words: `count` + 2 tokens with the test tokenizer."""
    return " ".join(WORDS[i % len(WORDS)] for i in range(count))


@pytest.fixture(scope="module")
def analyzer(tokenizer_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> TextAnalyzer:
    """The test tokenizer served with the model's limit of 512 tokens."""
    version = tmp_path_factory.mktemp("tokenizer-512") / "1"
    shutil.copytree(tokenizer_dir, version / "tokenizer")
    Pipeline(max_length=LIMIT).write(version / PIPELINE_FILE)
    return TextAnalyzer.from_dir(version / "tokenizer")


@pytest.fixture
def long_gateway(start_gateway: Any, analyzer: TextAnalyzer) -> tuple[RunningGateway, str]:
    """A gateway with the default limits (no character limit, 1 MiB messages)."""
    gateway = start_gateway(analyzer=analyzer, max_message_bytes=DEFAULT_MESSAGE_BYTES)
    return gateway, gateway.create_key("long")


def code_and_violations(call: Any) -> tuple[grpc.StatusCode, dict[str, str]]:
    with pytest.raises(grpc.RpcError) as caught:
        result = call()
        if not isinstance(result, pb.PredictResponse | pb.PredictBatchResponse):
            list(result)
    return caught.value.code(), error_details(caught.value).field_violations


def predict(gateway: RunningGateway, key: str, text: str, truncation: int = 0) -> Any:
    request = pb.PredictRequest(text=text, truncation=truncation)
    return code_and_violations(
        lambda: gateway.stub.Predict(request, metadata=auth(key), timeout=30)
    )


def test_a_400_token_review_reaches_the_model(
    long_gateway: tuple[RunningGateway, str], analyzer: TextAnalyzer
) -> None:
    gateway, key = long_gateway
    review = words(398)
    assert analyzer.analyze([review])[0].model_tokens == 400
    assert predict(gateway, key, review) == (UNAVAILABLE, {})


def test_no_text_within_the_token_limit_is_refused_for_its_characters(
    long_gateway: tuple[RunningGateway, str], analyzer: TextAnalyzer
) -> None:
    """WordPiece reads a word of up to 100 characters it cannot split, and any longer word,
    as one [UNK]: 510 tokens can be 200 KB (100-character words of 4-byte characters)."""
    gateway, key = long_gateway
    long_words = " ".join(["\U0001d524" * 100] * (LIMIT - 4))  # fraktur g: 4 UTF-8 bytes
    longer_words = " ".join(["x" * 1000] * 300)
    for text, tokens in ((long_words, LIMIT - 2), (longer_words, 302)):
        assert analyzer.analyze([text])[0].model_tokens == tokens
        assert len(pb.PredictRequest(text=text).SerializeToString()) < DEFAULT_MESSAGE_BYTES
        assert predict(gateway, key, text) == (UNAVAILABLE, {})


@pytest.mark.parametrize("truncation", [pb.TRUNCATION_UNSPECIFIED, pb.TRUNCATION_NONE])
def test_over_the_limit_is_refused_with_a_field_violation_by_default(
    long_gateway: tuple[RunningGateway, str], truncation: int
) -> None:
    gateway, key = long_gateway
    code, violations = predict(gateway, key, words(LIMIT - 1), truncation)
    assert code == INVALID
    assert violations["text"].startswith("513 tokens is over the limit of 512; set truncation")
    batch = pb.PredictBatchRequest(texts=["good", words(600)], truncation=truncation)
    code, violations = code_and_violations(
        lambda: gateway.stub.PredictBatch(batch, metadata=auth(key), timeout=30)
    )
    assert code == INVALID and set(violations) == {"texts[1]"}
    assert violations["texts[1]"].startswith("602 tokens is over the limit of 512")


@pytest.mark.parametrize("truncation", TRUNCATING)
def test_truncation_serves_texts_over_the_limit_in_every_rpc(
    long_gateway: tuple[RunningGateway, str], truncation: int
) -> None:
    gateway, key = long_gateway
    text = words(2000)
    assert predict(gateway, key, text, truncation) == (UNAVAILABLE, {})
    batch = pb.PredictBatchRequest(texts=["good", text], truncation=truncation)
    assert code_and_violations(
        lambda: gateway.stub.PredictBatch(batch, metadata=auth(key), timeout=30)
    ) == (UNAVAILABLE, {})
    stream = iter([pb.PredictStreamRequest(text=text, truncation=truncation)])
    assert code_and_violations(
        lambda: gateway.stub.PredictStream(stream, metadata=auth(key), timeout=30)
    ) == (UNAVAILABLE, {})


def test_an_unknown_truncation_is_a_field_violation(
    long_gateway: tuple[RunningGateway, str],
) -> None:
    gateway, key = long_gateway
    code, violations = predict(gateway, key, "a good film", truncation=7)
    assert code == INVALID and set(violations) == {"truncation"}
    assert "unknown value 7" in violations["truncation"]


def test_a_gateway_limit_below_the_models_holds_with_truncation(
    start_gateway: Any, analyzer: TextAnalyzer
) -> None:
    """Truncation cuts at the model's limit; an operator's lower `max_tokens` still holds."""
    gateway = start_gateway(analyzer=analyzer, max_tokens=64, max_message_bytes=65536)
    key = gateway.create_key("low")
    code, violations = predict(gateway, key, words(600), pb.TRUNCATION_HEAD)
    assert code == INVALID
    assert violations["text"] == (
        "602 tokens is over the limit of 64 (truncation cuts texts to the model's 512)"
    )
    assert predict(gateway, key, words(62), pb.TRUNCATION_HEAD) == (UNAVAILABLE, {})


def test_a_character_limit_is_only_there_when_configured(
    start_gateway: Any, analyzer: TextAnalyzer
) -> None:
    gateway = start_gateway(analyzer=analyzer, max_text_chars=100)
    key = gateway.create_key("chars")
    code, violations = predict(gateway, key, "x" * 150)  # 3 tokens
    assert code == INVALID
    assert violations == {"text": "150 characters is over the limit of 100"}


def test_truncated_texts_are_counted_and_described_as_the_model_reads_them(
    analyzer: TextAnalyzer,
) -> None:
    text = "good " * 300 + "zzz " * 300  # 300 known words, then 300 [UNK]s
    whole, head, head_tail = (
        analyzer.analyze([text], truncation)[0] for truncation in (None, "head", "head_tail")
    )
    assert (whole.tokens, whole.model_tokens, whole.truncated) == (602, 602, False)
    assert whole.features.token_count == 600
    for result in (head, head_tail):
        assert (result.tokens, result.model_tokens, result.truncated) == (602, 512, True)
        assert result.features.token_count == 510
        assert result.features.text_length == len(text)  # the text as sent
    # head: 300 known + the first 210 [UNK]s; head_tail: 127 known, then the last 383
    # content tokens (83 known, 300 [UNK]s).
    assert head.features.unknown_token_rate == pytest.approx(210 / 510)
    assert head_tail.features.unknown_token_rate == pytest.approx(300 / 510)
    short = analyzer.analyze(["a good film"], "head_tail")[0]
    assert (short.tokens, short.model_tokens, short.truncated) == (5, 5, False)


def test_analysing_a_long_text_leaves_the_event_loop_free(analyzer: TextAnalyzer) -> None:
    """As the service runs it (on a worker thread): the tokenizer must release the GIL,
    or the loop, and every other caller, waits for the whole text."""
    text = "good movie, " * 80_000  # about 1 MB: the default message size

    async def scenario() -> tuple[float, float]:
        gaps: list[float] = []
        done = False

        async def tick() -> None:
            last = time.perf_counter()
            while not done:
                await asyncio.sleep(0.001)
                now = time.perf_counter()
                gaps.append(now - last)
                last = now

        ticker = asyncio.create_task(tick())
        await asyncio.sleep(0.01)
        started = time.perf_counter()
        [result] = await asyncio.to_thread(analyzer.analyze, [text], "head_tail")
        elapsed = time.perf_counter() - started
        done = True
        await ticker
        assert result.model_tokens == LIMIT
        return elapsed, max(gaps)

    elapsed, longest_gap = asyncio.run(scenario())
    assert longest_gap < elapsed / 4, (elapsed, longest_gap)
