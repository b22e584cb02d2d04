"""End to end: a real gateway on a free port in front of a real Triton (tiny model).

Covers the answer (label, probabilities, model version, MLflow run id, request id) of all
three RPCs, the audit record and drift sample written for each, `sentiment predict`
against it, health, metrics, the property test against the real model, the text
features' parity with training, and Triton being killed and coming back.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.generated.sentiment.v1 import sentiment_pb2 as pb
from client.sdk import SentimentClient, error_details
from gateway.core.text import TextAnalyzer
from serving.tritonserver import TritonServer
from store import AuditRow, DriftRow, make_engine
from tests.gateway.conftest import RunningGateway, auth, free_port, gateway_settings, triton_server
from tests.gateway.core.test_properties import ALLOWED, code_of

pytestmark = pytest.mark.triton


@pytest.fixture(scope="module")
def live(
    triton: TritonServer, repository: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[RunningGateway, str]]:
    analyzer = TextAnalyzer.from_repository(repository)
    gateway = RunningGateway(
        gateway_settings(triton.grpc_url, max_batch_texts=8, max_message_bytes=1 << 20),
        tmp_path_factory.mktemp("e2e-state"),
        analyzer,
    ).start()
    yield gateway, gateway.create_key("e2e")
    gateway.stop()


def stored(gateway: RunningGateway, request_id: str) -> tuple[list[AuditRow], list[DriftRow]]:
    assert gateway.run(gateway.server.persistence.audit.drained(10))  # type: ignore[attr-defined]
    engine = make_engine(gateway.database.resolved_url())
    try:
        with Session(engine) as session:
            audit = list(session.scalars(select(AuditRow).where(AuditRow.request_id == request_id)))
            drift = list(session.scalars(select(DriftRow).where(DriftRow.request_id == request_id)))
            session.expunge_all()
    finally:
        engine.dispose()
    return audit, drift


def test_predict_answers_and_is_audited(live: tuple[RunningGateway, str], tiny_run: Any) -> None:
    gateway, key = live
    answer = gateway.stub.Predict(
        pb.PredictRequest(text="a great movie", request_id="e2e-1"), metadata=auth(key), timeout=10
    )
    assert answer.request_id == "e2e-1"
    assert answer.prediction.label in {"negative", "positive"}
    assert set(answer.prediction.probabilities) == {"negative", "positive"}
    assert answer.prediction.score == pytest.approx(
        answer.prediction.probabilities[answer.prediction.label], abs=1e-6
    )
    assert answer.model.name == "sentiment" and answer.model.version == "1"
    assert answer.model.mlflow_run_id == tiny_run.run_id
    deadline = time.monotonic() + 5
    while True:  # drift samples are written off the request path
        audit, drift = stored(gateway, "e2e-1")
        if drift or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert len(audit) == 1 and audit[0].status == "OK"
    assert len(drift) == 1


def sentiment_cli(*args: str, api_key: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "SENTIMENT_API_KEY"}
    if api_key is not None:
        env["SENTIMENT_API_KEY"] = api_key
    command = [str(Path(sys.executable).parent / "sentiment"), *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)


def trailer(call: Any) -> dict[str, str]:
    return {key: value for key, value in call.trailing_metadata() or ()}


def test_a_request_id_retried_after_refusals_keeps_every_attempt(
    live: tuple[RunningGateway, str],
) -> None:
    gateway, key = live
    refused = []
    request_id = (("x-request-id", "retry-1"),)  # what names a call refused before decoding
    for text, metadata in (("", auth(key)), ("a fine film", auth("snt_000000000000_" + "x" * 43))):
        with pytest.raises(grpc.RpcError) as caught:
            gateway.stub.Predict(
                pb.PredictRequest(text=text, request_id="retry-1"),
                metadata=metadata + request_id,
                timeout=10,
            )
        refused.append(trailer(caught.value)["x-audit-id"])
    answer, call = gateway.stub.Predict.with_call(
        pb.PredictRequest(text="a fine film", request_id="retry-1"), metadata=auth(key), timeout=10
    )
    assert answer.audit_id and trailer(call)["x-audit-id"] == answer.audit_id
    rows, _ = stored(gateway, "retry-1")
    by_id = {row.audit_id: row for row in rows}
    assert set(by_id) == {*refused, answer.audit_id}  # three attempts, three records
    assert [by_id[i].status for i in refused] == ["INVALID_ARGUMENT", "UNAUTHENTICATED"]
    assert by_id[answer.audit_id].status == "OK"
    assert by_id[answer.audit_id].predictions[0]["label"] == answer.prediction.label
    # Refused before authentication: who sent how much, not what (the texts are unread).
    unauthenticated = by_id[refused[1]]
    assert unauthenticated.texts == [] and unauthenticated.key_id is None
    assert unauthenticated.peer and unauthenticated.peer.startswith("ipv")
    assert unauthenticated.request_bytes == len(
        pb.PredictRequest(text="a fine film", request_id="retry-1").SerializeToString()
    )


def test_the_sdk_names_an_attempt_refused_before_authentication(
    live: tuple[RunningGateway, str],
) -> None:
    gateway, key = live
    wrong = "snt_000000000000_" + "x" * 43

    async def body() -> str:
        async with SentimentClient(gateway.target, wrong, retries=0) as client:
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await client.predict("a fine film", request_id="sdk-refused-1")
            assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
        async with SentimentClient(gateway.target, key) as client:
            answer = await client.predict("a fine film", request_id="sdk-refused-1")
        return answer.audit_id

    answered = asyncio.run(body())
    rows, _ = stored(gateway, "sdk-refused-1")
    assert sorted(row.status for row in rows) == ["OK", "UNAUTHENTICATED"]
    assert {row.audit_id for row in rows if row.status == "OK"} == {answered}


def test_sentiment_predict_command(live: tuple[RunningGateway, str], tiny_run: Any) -> None:
    gateway, key = live
    texts = ["a great movie", "dull and far too long"]
    done = sentiment_cli("predict", *texts, "--target", gateway.target, api_key=key)
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [line["text"] for line in lines] == texts
    for line in lines:
        assert line["label"] in {"negative", "positive"}
        assert set(line["probabilities"]) == {"negative", "positive"}
        assert line["model"] == "sentiment" and line["mlflow_run_id"] == tiny_run.run_id
    assert len({line["request_id"] for line in lines}) == 1  # one PredictBatch call
    audit, _ = stored(gateway, lines[0]["request_id"])
    assert len(audit) == 1 and audit[0].texts == texts

    long_text = " ".join(review(600))
    for truncation, code in (("none", 1), ("head_tail", 0)):
        cut = sentiment_cli(
            "predict", long_text, "--target", gateway.target, "--truncation", truncation,
            api_key=key,
        )  # fmt: skip
        assert cut.returncode == code, cut.stderr
    assert (
        "602 tokens is over the limit"
        in sentiment_cli("predict", long_text, "--target", gateway.target, api_key=key).stderr
    )

    refused = sentiment_cli("predict", "x", "--target", gateway.target, api_key="snt_bad")
    assert refused.returncode == 1 and "UNAUTHENTICATED" in refused.stderr
    no_key = sentiment_cli("predict", "x", "--target", gateway.target, api_key=None)
    assert no_key.returncode == 2 and "SENTIMENT_API_KEY" in no_key.stderr


def test_batch_and_stream(live: tuple[RunningGateway, str]) -> None:
    gateway, key = live
    texts = ["good", "an awful, boring film", "fine"]
    batch = gateway.stub.PredictBatch(
        pb.PredictBatchRequest(texts=texts), metadata=auth(key), timeout=10
    )
    assert len(batch.predictions) == 3 and batch.request_id
    requests = [
        pb.PredictStreamRequest(text=t, request_id=f"s-{i}") for i, t in enumerate(texts * 4)
    ]
    answers = list(gateway.stub.PredictStream(iter(requests), metadata=auth(key), timeout=20))
    assert [a.request_id for a in answers] == [r.request_id for r in requests]
    single = [batch.predictions[i].label for i in range(3)] * 4
    assert [a.prediction.label for a in answers] == single


REVIEW_WORDS = ("good", "bad", "movie", "film", "great", "awful", "fun", "dull", "boring")
"""One word piece each in MiniLM's vocabulary: a text of n of them is n + 2 tokens."""


def review(count: int) -> list[str]:
    return [REVIEW_WORDS[(i * 7 + i // 11) % len(REVIEW_WORDS)] for i in range(count)]


def test_a_400_token_review_is_served(live: tuple[RunningGateway, str]) -> None:
    gateway, key = live
    text = " ".join(review(398))
    answer = gateway.stub.Predict(pb.PredictRequest(text=text), metadata=auth(key), timeout=30)
    assert answer.prediction.label in {"negative", "positive"}


def test_over_512_tokens_is_refused_unless_the_request_asks_to_truncate(
    live: tuple[RunningGateway, str],
) -> None:
    """Triton cuts a long text exactly as the contract says (and the gateway counts): the
    answer for the cut text is the answer for the words that truncation keeps."""
    gateway, key = live
    words = review(700)
    with pytest.raises(grpc.RpcError) as caught:
        gateway.stub.Predict(
            pb.PredictRequest(text=" ".join(words)), metadata=auth(key), timeout=30
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    violation = error_details(caught.value).field_violations["text"]
    assert violation.startswith("702 tokens is over the limit of 512")
    kept = {
        pb.TRUNCATION_HEAD: words[:510],
        pb.TRUNCATION_HEAD_TAIL: words[:127] + words[-383:],  # B = 510: B // 4, B - B // 4
    }
    for truncation, words_kept in kept.items():
        request_id = f"truncated-{truncation}"
        cut = gateway.stub.Predict(
            pb.PredictRequest(text=" ".join(words), truncation=truncation, request_id=request_id),
            metadata=auth(key),
            timeout=30,
        )
        whole = gateway.stub.Predict(
            pb.PredictRequest(text=" ".join(words_kept)), metadata=auth(key), timeout=30
        )
        assert dict(cut.prediction.probabilities) == pytest.approx(
            dict(whole.prediction.probabilities), abs=1e-6
        )
        deadline = time.monotonic() + 5
        while not (drift := stored(gateway, request_id)[1]) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert [row.token_count for row in drift] == [510]  # what the model read
        (record,) = stored(gateway, request_id)[0]
        assert [p["truncated"] for p in record.predictions] == [True]
        (plain,) = stored(gateway, whole.request_id)[0]
        assert [p["truncated"] for p in plain.predictions] == [False]

    async def through_the_sdk() -> list[Any]:
        async with SentimentClient(gateway.target, key, timeout=30) as client:
            head = await client.predict(" ".join(words), truncation="head")
            batch = await client.predict_batch([" ".join(words)], truncation="head_tail")
        return [head.prediction, batch.predictions[0]]

    for answer, words_kept in zip(asyncio.run(through_the_sdk()), kept.values(), strict=True):
        whole = gateway.stub.Predict(
            pb.PredictRequest(text=" ".join(words_kept)), metadata=auth(key), timeout=30
        )
        assert dict(answer.probabilities) == pytest.approx(
            dict(whole.prediction.probabilities), abs=1e-6
        )


def test_health_and_metrics(live: tuple[RunningGateway, str]) -> None:
    gateway, _ = live
    health = health_pb2_grpc.HealthStub(gateway.channel)
    deadline = time.monotonic() + 5
    while True:
        status = health.Check(health_pb2.HealthCheckRequest(service=""), timeout=5).status
        if status == health_pb2.HealthCheckResponse.SERVING or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert status == health_pb2.HealthCheckResponse.SERVING
    url = f"http://127.0.0.1:{gateway.server.metrics_port}/metrics"
    text = urllib.request.urlopen(url, timeout=5).read().decode()
    for name in (
        "sentiment_gateway_requests_total",
        "sentiment_gateway_request_seconds_bucket",
        "sentiment_gateway_triton_seconds_bucket",
        "sentiment_gateway_in_flight",
        "sentiment_gateway_audit_spool_depth",
        "sentiment_gateway_audit_write_lag_seconds",
        "sentiment_gateway_drift_samples_total",
    ):
        assert name in text, name


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(batch=st.lists(st.text(max_size=120), min_size=1, max_size=3))
def test_property_against_real_model(live: tuple[RunningGateway, str], batch: list[str]) -> None:
    gateway, key = live
    request = pb.PredictBatchRequest(texts=batch)
    assert (
        code_of(lambda: gateway.stub.PredictBatch(request, metadata=auth(key), timeout=10))
        in ALLOWED
    )


def test_text_features_match_training_reference(repository: Path) -> None:
    from transformers import PreTrainedTokenizerFast

    from training.reference import text_features

    folder = sorted((repository / "sentiment_tokenizer").glob("[0-9]*"))[-1] / "tokenizer"
    tokenizer = PreTrainedTokenizerFast.from_pretrained(folder)
    texts = ["a great movie", "ünïcödé zzzqqq", "x" * 40, "the the the"]
    ours = [a.features for a in TextAnalyzer.from_dir(folder).analyze(texts)]
    for mine, reference in zip(ours, text_features(texts, tokenizer), strict=True):
        assert mine.token_count == reference["token_count"]
        assert mine.unknown_token_rate == pytest.approx(reference["unknown_token_rate"])
        assert mine.non_ascii_share == pytest.approx(reference["non_ascii_share"])


def test_triton_killed_then_back(
    live: tuple[RunningGateway, str], repository: Path, tmp_path: Path
) -> None:
    """A gateway whose Triton dies answers UNAVAILABLE within the deadline, then recovers."""
    port = free_port()
    restarted: list[TritonServer] = []
    server = triton_server(repository, tmp_path / "own-triton", grpc_port=port)
    with server:
        gateway, _ = live
        own = RunningGateway(
            gateway_settings(server.grpc_url, triton_retries=1),
            tmp_path / "state",
            gateway.analyzer,
        ).start()
        try:
            key = own.create_key("fault")
            request = pb.PredictRequest(text="a great movie")
            assert own.stub.Predict(request, metadata=auth(key), timeout=10).prediction.label
            assert server.process is not None
            server.process.kill()
            server.process.wait()
            started = time.monotonic()
            with pytest.raises(grpc.RpcError) as caught:
                own.stub.Predict(request, metadata=auth(key), timeout=2)
            assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
            assert time.monotonic() - started < 2
            # Orphaned Python-backend stubs of the killed server still hold its work dir.
            revived = triton_server(repository, tmp_path / "own-triton-2", grpc_port=port)
            restarted.append(revived.start())
            revived.wait_ready()
            deadline = time.monotonic() + 30
            while True:
                try:
                    own.stub.Predict(request, metadata=auth(key), timeout=5)
                    break
                except grpc.RpcError as err:
                    assert err.code() == grpc.StatusCode.UNAVAILABLE
                    assert time.monotonic() < deadline, "no recovery"
                    time.sleep(0.5)
        finally:
            own.stop()
            for revived in restarted:
                revived.stop()
