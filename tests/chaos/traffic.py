"""Callers of the chaos suite: plain gRPC clients on the generated stubs, and what each
call ended with.

An `Outcome` is acknowledged when the gateway handed the caller an audit id: an OK answer
(its `audit_id` field), or a refusal whose `x-audit-id` trailer names the record of it.
`Load` keeps a few threads sending Predict calls, each with a request id of its own,
until it is stopped.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import Counter
from dataclasses import dataclass

import grpc

from api.generated.sentiment.v1 import sentiment_pb2 as pb
from api.generated.sentiment.v1 import sentiment_pb2_grpc as pb_grpc

AUDIT_ID_TRAILER = "x-audit-id"
REQUEST_ID_METADATA = "x-request-id"
"""The request id sent as metadata too: a call refused before its message is decoded (a
wrong key) is still recorded under it."""
TEXTS = (
    "a gripping, beautifully acted film",
    "dull and far too long",
    "the best thing i have seen this year",
    "an awkward, lifeless script",
    "funny, warm and smart",
    "i wanted my two hours back",
)
WRONG_KEY = "snt_000000000000_" + "x" * 43
"""Well-formed, unknown: refused UNAUTHENTICATED."""


def metadata(key: str, request_id: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {key}"), (REQUEST_ID_METADATA, request_id))


@dataclass(frozen=True)
class Outcome:
    """One call attempt as its caller saw it."""

    request_id: str
    code: str
    """gRPC status code name (`OK`, `UNAVAILABLE`, ...)."""
    audit_id: str | None
    """From the response or the `x-audit-id` trailer; None when the call carried none."""
    label: str | None = None
    """The prediction's label of an OK answer."""
    started: float = 0.0
    ended: float = 0.0
    """When the call was made and when it ended (time.monotonic())."""

    @property
    def acknowledged(self) -> bool:
        return self.audit_id is not None


def predict(
    stub: pb_grpc.SentimentServiceStub, text: str, request_id: str, key: str, timeout: float = 10.0
) -> Outcome:
    """One Predict call; never raises for a gRPC error."""
    started = time.monotonic()
    try:
        answer, call = stub.Predict.with_call(
            pb.PredictRequest(text=text, request_id=request_id),
            metadata=metadata(key, request_id),
            timeout=timeout,
        )
    except grpc.RpcError as error:
        trailers = dict(error.trailing_metadata() or ())
        audit_id = trailers.get(AUDIT_ID_TRAILER) or None
        code = error.code().name
        return Outcome(request_id, code, audit_id, None, started, time.monotonic())
    trailers = dict(call.trailing_metadata() or ())
    audit_id = answer.audit_id or trailers.get(AUDIT_ID_TRAILER) or None
    label = answer.prediction.label
    return Outcome(request_id, "OK", audit_id, label, started, time.monotonic())


class Load:
    """`workers` threads sending Predict calls to `target` until `stop()`.

    Request ids are `<prefix>-<worker>-<n>`: one attempt per id. A call that finds no
    server (UNAVAILABLE without an audit id) is followed by a short pause, as a client's
    backoff would be.
    """

    def __init__(
        self, target: str, key: str, prefix: str, workers: int = 4, timeout: float = 10.0
    ) -> None:
        self.target = target
        self.key = key
        self.prefix = prefix
        self.timeout = timeout
        self.outcomes: list[Outcome] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._work, args=(i,), name=f"load-{prefix}-{i}", daemon=True)
            for i in range(workers)
        ]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _work(self, worker: int) -> None:
        with grpc.insecure_channel(self.target) as channel:
            stub = pb_grpc.SentimentServiceStub(channel)
            texts = itertools.cycle(TEXTS[worker % len(TEXTS) :] + TEXTS[: worker % len(TEXTS)])
            for n in itertools.count():
                if self._stop.is_set():
                    return
                request_id = f"{self.prefix}-{worker}-{n}"
                outcome = predict(stub, next(texts), request_id, self.key, self.timeout)
                with self._lock:
                    self.outcomes.append(outcome)
                if outcome.code == "UNAVAILABLE" and not outcome.acknowledged:
                    time.sleep(0.05)

    def stop(self) -> list[Outcome]:
        """Stop sending; every call in flight finishes (or times out) first."""
        self._stop.set()
        for thread in self._threads:
            thread.join(self.timeout + 10)
        return self.results()

    def results(self) -> list[Outcome]:
        with self._lock:
            return list(self.outcomes)

    def answered(self) -> int:
        """Calls answered OK so far."""
        with self._lock:
            return sum(o.code == "OK" for o in self.outcomes)

    def wait_answered(self, count: int, timeout: float = 60.0) -> None:
        """Block until at least `count` calls were answered OK."""
        deadline = time.monotonic() + timeout
        while self.answered() < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"only {self.answered()} calls answered: {self.codes()}")
            time.sleep(0.05)

    def codes(self) -> dict[str, int]:
        return dict(Counter(o.code for o in self.results()))
