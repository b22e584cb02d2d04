"""What a caller without a valid key can make the gateway do, through a real gateway:
authentication comes before the request is decoded or tokenized, repeated failures from
one address are told to back off, one key cannot hold every slot, and a stream is
authenticated when it opens."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from typing import Any

import grpc
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.generated.sentiment.v1 import sentiment_pb2 as pb
from api.generated.sentiment.v1 import sentiment_pb2_grpc as pb_grpc
from client.sdk import error_details
from store import AuditRow, make_engine
from tests.gateway.conftest import BlackHole, RunningGateway, auth

WRONG_KEY = auth("snt_000000000000_" + "x" * 43)
REQUEST = pb.PredictRequest(text="a good movie")


def raw_predict(gateway: RunningGateway, data: bytes, metadata: Any) -> grpc.RpcError:
    """Send `data` as a Predict message, unparsed: what an attacker's bytes look like."""
    with grpc.insecure_channel(gateway.target) as channel:
        call = channel.unary_unary(
            "/sentiment.v1.SentimentService/Predict",
            request_serializer=None,
            response_deserializer=None,
        )
        with pytest.raises(grpc.RpcError) as caught:
            call(data, metadata=metadata, timeout=10)
    return caught.value


def stored_rows(gateway: RunningGateway) -> list[AuditRow]:
    assert gateway.run(gateway.server.persistence.audit.drained(10))  # type: ignore[attr-defined]
    engine = make_engine(gateway.database.resolved_url())
    with Session(engine) as session:
        rows = list(session.scalars(select(AuditRow)))
    engine.dispose()
    return rows


def test_bytes_of_an_unauthenticated_caller_are_never_decoded(start_gateway: Any) -> None:
    gateway: RunningGateway = start_gateway()
    key = gateway.create_key("abuse-decode")
    garbage = b"\xff\x01not a protobuf message" * 100
    # With a valid key the bytes are read and refused for what they are...
    assert raw_predict(gateway, garbage, auth(key)).code() == grpc.StatusCode.INVALID_ARGUMENT
    # ...without one, they are never looked at: the key is what is refused.
    assert raw_predict(gateway, garbage, WRONG_KEY).code() == grpc.StatusCode.UNAUTHENTICATED
    texts = [f"secret words {i} " * 4 for i in range(40)]  # within the 4 KiB message limit
    batch = pb.PredictBatchRequest(texts=texts, request_id="flood-1").SerializeToString()
    with grpc.insecure_channel(gateway.target) as channel:
        call = channel.unary_unary("/sentiment.v1.SentimentService/PredictBatch")
        with pytest.raises(grpc.RpcError) as caught:
            call(batch, metadata=(*WRONG_KEY, ("x-request-id", "flood-1")), timeout=10)
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
    (row,) = [r for r in stored_rows(gateway) if r.request_id == "flood-1"]
    assert row.texts == [] and row.text_sha256 == [] and row.request_bytes == len(batch)
    assert row.status == "UNAUTHENTICATED" and row.peer


def test_repeated_failures_from_one_address_are_told_to_back_off(start_gateway: Any) -> None:
    gateway: RunningGateway = start_gateway(
        refusal_burst_per_peer=3, refusals_per_second_per_peer=0.01
    )
    key = gateway.create_key("abuse-peer")
    codes = []
    for _ in range(5):
        with pytest.raises(grpc.RpcError) as caught:
            gateway.stub.Predict(pb.PredictRequest(text="hi"), metadata=WRONG_KEY, timeout=10)
        codes.append(caught.value.code())
    assert codes[:3] == [grpc.StatusCode.UNAUTHENTICATED] * 3
    assert codes[3:] == [grpc.StatusCode.RESOURCE_EXHAUSTED] * 2
    assert error_details(caught.value).retry_after is not None
    # The same address with a valid key is served (here: refused only for its empty text).
    with pytest.raises(grpc.RpcError) as caught:
        gateway.stub.Predict(pb.PredictRequest(text=""), metadata=auth(key), timeout=10)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert len([r for r in stored_rows(gateway) if r.key_id is None]) == 5  # all audited


def test_one_key_cannot_take_every_slot(start_gateway: Any, black_hole: BlackHole) -> None:
    gateway: RunningGateway = start_gateway(black_hole.url, max_in_flight_per_key=2)
    greedy, other = gateway.create_key("greedy"), gateway.create_key("other")
    # Warm the key table so the hanging calls below are in Triton, not in authentication.
    for key in (greedy, other):
        with pytest.raises(grpc.RpcError):
            gateway.stub.Predict(pb.PredictRequest(text=""), metadata=auth(key), timeout=10)
    hanging = [
        gateway.stub.Predict.future(REQUEST, metadata=auth(greedy), timeout=3) for _ in range(2)
    ]
    threading.Event().wait(0.5)
    with pytest.raises(grpc.RpcError) as caught:
        gateway.stub.Predict(REQUEST, metadata=auth(greedy), timeout=3)
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "API key" in (caught.value.details() or "")
    with pytest.raises(grpc.RpcError) as caught:  # another key still gets through to Triton
        gateway.stub.Predict(REQUEST, metadata=auth(other), timeout=1)
    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    for call in hanging:
        with pytest.raises(grpc.RpcError):
            call.result()


def test_a_stream_is_refused_when_it_opens(start_gateway: Any) -> None:
    gateway: RunningGateway = start_gateway()
    never = threading.Event()

    def silent() -> Any:  # a client that opens a stream and never sends a message
        never.wait(10)
        yield from ()

    responses = gateway.stub.PredictStream(silent(), metadata=WRONG_KEY, timeout=5)
    try:
        with pytest.raises(grpc.RpcError) as caught:
            next(iter(responses))
        assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
    finally:
        never.set()


def test_an_idle_stream_is_ended_and_audited(start_gateway: Any) -> None:
    gateway: RunningGateway = start_gateway(stream_idle_timeout_seconds=0.5)
    key = gateway.create_key("idler")
    never = threading.Event()

    def silent() -> Any:
        never.wait(10)
        yield from ()

    responses = gateway.stub.PredictStream(
        silent(), metadata=(*auth(key), ("x-request-id", "idle-1")), timeout=5
    )
    try:
        with pytest.raises(grpc.RpcError) as caught:
            next(iter(responses))
        assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "no message for 0.5s" in (caught.value.details() or "")
    finally:
        never.set()
    (row,) = [r for r in stored_rows(gateway) if r.request_id == "idle-1"]
    assert row.status == "RESOURCE_EXHAUSTED" and row.key_id is not None


def test_callers_waiting_on_made_up_keys_hold_no_slot(start_gateway: Any) -> None:
    gateway: RunningGateway = start_gateway(max_in_flight=1)
    key = gateway.create_key("honest")
    with pytest.raises(grpc.RpcError):  # the key table is loaded and knows this key now
        gateway.stub.Predict(pb.PredictRequest(text=""), metadata=auth(key), timeout=10)
    made_up = [
        gateway.stub.Predict.future(REQUEST, metadata=auth(f"snt_{i:012x}_" + "y" * 43), timeout=10)
        for i in range(3)
    ]
    threading.Event().wait(0.2)  # they wait for a key table reload meanwhile
    with pytest.raises(grpc.RpcError) as caught:
        gateway.stub.Predict(pb.PredictRequest(text=""), metadata=auth(key), timeout=10)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT  # served, not shed
    for call in made_up:
        with pytest.raises(grpc.RpcError) as refused:
            call.result()
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_a_cancelled_stream_leaves_nothing_running(
    start_gateway: Any, black_hole: BlackHole
) -> None:
    """Messages stuck in a hung Triton, then the client cancels: every task the stream
    started ends, every slot is given back, and each message is audited CANCELLED."""
    gateway: RunningGateway = start_gateway(black_hole.url)
    key = gateway.create_key("canceller")
    with pytest.raises(grpc.RpcError):  # load the key table: the stream opens at once
        gateway.stub.Predict(pb.PredictRequest(text=""), metadata=auth(key), timeout=10)
    service = gateway.server.service

    async def tasks() -> int:
        return len(asyncio.all_tasks())

    before = gateway.run(tasks())
    release = threading.Event()

    def messages() -> Any:
        for i in range(3):
            yield pb.PredictStreamRequest(text="a good movie", request_id=f"cancelled-{i}")
        release.wait(30)

    responses = gateway.stub.PredictStream(messages(), metadata=auth(key), timeout=60)
    deadline = time.monotonic() + 10
    while service.in_flight.count < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert service.in_flight.count == 3, "the messages never reached the upstream call"
    responses.cancel()
    release.set()
    deadline = time.monotonic() + 10
    while (service.in_flight.count or gateway.run(tasks()) > before) and (
        time.monotonic() < deadline
    ):
        time.sleep(0.05)
    assert service.in_flight.count == 0
    assert gateway.run(tasks()) <= before, "the cancelled stream left tasks running"
    statuses = {r.request_id: r.status for r in stored_rows(gateway)}
    assert all(statuses[f"cancelled-{i}"] == "CANCELLED" for i in range(3)), statuses


def refusals_in(gateway: RunningGateway, seconds: float, callers: int) -> Counter[Any]:
    """Status codes `callers` concurrent callers with a malformed key (refused without a
    key-table look-up) get in `seconds`, each sending again as soon as it is answered."""
    codes: Counter[Any] = Counter()
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def attack() -> None:
        with grpc.insecure_channel(gateway.target) as channel:
            predict = pb_grpc.SentimentServiceStub(channel).Predict
            while time.monotonic() < stop:
                try:
                    predict(REQUEST, metadata=auth("not-a-key"), timeout=5)
                except grpc.RpcError as error:
                    with lock:
                        codes[error.code()] += 1

    threads = [threading.Thread(target=attack) for _ in range(callers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return codes


def test_a_peer_past_its_budget_is_answered_at_the_pace_its_retry_info_names(
    start_gateway: Any,
) -> None:
    budget = {"refusal_burst_per_peer": 2, "refusals_per_second_per_peer": 4.0}
    held = refusals_in(start_gateway(**budget), seconds=1.5, callers=8)
    at_once = refusals_in(
        start_gateway(**budget, refusal_hold_max_seconds=0), seconds=1.5, callers=8
    )
    assert held[grpc.StatusCode.RESOURCE_EXHAUSTED] > 0
    # Held: about one answer per caller and RetryInfo delay (at most 1/4 s here), whatever
    # the callers do; at once: as many as the gateway can produce (measured: 55 and 799).
    assert sum(held.values()) * 3 < sum(at_once.values()), (held, at_once)


def test_held_refusals_are_bounded() -> None:
    from gateway.core.service import RefusalHold

    async def hold_two() -> tuple[float, float]:
        hold = RefusalHold(max_seconds=0.5, max_calls=1)
        started = time.monotonic()
        first = asyncio.create_task(hold.wait(10.0))  # capped at 0.5 s
        await asyncio.sleep(0.05)
        await hold.wait(10.0)  # one is held already: answered at once
        second = time.monotonic() - started
        await first
        return time.monotonic() - started, second

    total, second = asyncio.run(hold_two())
    assert second < 0.3 and 0.45 < total < 2.0
