"""Faults of a real gateway in front of a real Triton.

SIGTERM during load: no in-flight call fails. SIGKILL during load, then a restart on the
same state: every acknowledged request id is in the audit table exactly once. PostgreSQL
stopped during load, then started again: the same, with no call failing meanwhile.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.generated.sentiment.v1 import sentiment_pb2 as pb
from api.generated.sentiment.v1 import sentiment_pb2_grpc as pb_grpc
from gateway.core.text import TextAnalyzer
from gateway.persistence.keys import ApiKeyStore
from serving.tritonserver import TritonServer
from store import AuditRow, make_engine, upgrade_database
from tests.gateway.conftest import RunningGateway, auth, free_port
from tests.postgres import PG_CLUSTER, can_restart_postgres, pg_ctl, pg_online

pytestmark = pytest.mark.triton
ROOT = Path(__file__).resolve().parents[2]


class GatewayProcess:
    def __init__(
        self, triton_url: str, repository: Path, state: Path, port: int | None = None
    ) -> None:
        self.port = port or free_port()
        triton_host, triton_port = triton_url.rsplit(":", 1)
        self.env = {
            **os.environ,
            "SENTIMENT_STATE_DIR": str(state),
            "SENTIMENT_MODEL_REPOSITORY": str(repository),
            "SENTIMENT_GATEWAY_HOST": "127.0.0.1",
            "SENTIMENT_GATEWAY_PORT": str(self.port),
            "SENTIMENT_GATEWAY_METRICS_PORT": "0",
            "SENTIMENT_TRITON_HOST": triton_host,
            "SENTIMENT_TRITON_GRPC_PORT": triton_port,
            "SENTIMENT_GATEWAY_DRAIN_SECONDS": "20",
            # The load below sends as fast as the gateway answers; these tests are about
            # faults, not quotas, so the per-key rate limit must not refuse any of it.
            "SENTIMENT_GATEWAY_RATE_LIMIT_PER_SECOND": "100000",
            "SENTIMENT_GATEWAY_RATE_LIMIT_BURST": "100000",
        }
        self.process: subprocess.Popen[bytes] | None = None
        self.log = state / "gateway.log"

    def start(self) -> GatewayProcess:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gateway"],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=self.log.open("ab"),
        )
        channel = grpc.insecure_channel(f"127.0.0.1:{self.port}")
        try:
            grpc.channel_ready_future(channel).result(timeout=60)
        except grpc.FutureTimeoutError:
            raise AssertionError(f"gateway not up: {self.log.read_text()[-3000:]}") from None
        channel.close()
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def state(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    engine = make_engine(f"sqlite:///{tmp_path / 'gateway.db'}")
    upgrade_database(engine)
    key = ApiKeyStore(engine).create("faults").token
    engine.dispose()
    yield tmp_path, key


def load(port: int, key: str, prefix: str, stop: threading.Event, results: dict[str, str]) -> None:
    """Send Predict calls until `stop`; record each request id's outcome."""
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    stub = pb_grpc.SentimentServiceStub(channel)
    index = 0
    while not stop.is_set():
        request_id = f"{prefix}-{index}"
        index += 1
        try:
            stub.Predict(
                pb.PredictRequest(text="a fine film", request_id=request_id),
                metadata=auth(key),
                timeout=10,
            )
            results[request_id] = "OK"
        except grpc.RpcError as err:
            results[request_id] = err.code().name
            if err.code() == grpc.StatusCode.UNAVAILABLE:
                break  # the server is gone or going: a real client would retry elsewhere
    channel.close()


def run_load(
    port: int, key: str, seconds: float, action: object, prefix: str = "w"
) -> dict[str, str]:
    results: dict[str, str] = {}
    stop = threading.Event()
    workers = [
        threading.Thread(target=load, args=(port, key, f"{prefix}{i}", stop, results))
        for i in range(4)
    ]
    for worker in workers:
        worker.start()
    time.sleep(seconds)
    action()  # type: ignore[operator]
    time.sleep(0.5)
    stop.set()
    for worker in workers:
        worker.join(30)
    return results


def test_sigterm_during_load_fails_no_in_flight_call(
    triton: TritonServer,
    repository: Path,
    state: tuple[Path, str],
) -> None:
    folder, key = state
    gateway = GatewayProcess(triton.grpc_url, repository, folder).start()
    try:
        assert gateway.process is not None
        results = run_load(
            gateway.port, key, 2.0, lambda: gateway.process.send_signal(signal.SIGTERM)
        )
        assert gateway.process.wait(30) == 0
    finally:
        gateway.stop()
    outcomes = set(results.values())
    assert "OK" in outcomes
    # Calls in flight at SIGTERM finish OK; later ones are refused, never cut. grpc-core
    # answers CANCELLED for a call that reached the socket as the server shut down but was
    # never handed to the gateway: such a call has no audit record (one the gateway had
    # started and then lost would be audited CANCELLED).
    assert outcomes <= {"OK", "UNAVAILABLE", "CANCELLED"}, outcomes
    engine = make_engine(f"sqlite:///{folder / 'gateway.db'}")
    with Session(engine) as session:
        statuses = dict(session.execute(select(AuditRow.request_id, AuditRow.status)).all())
    engine.dispose()
    for request_id, outcome in results.items():
        if outcome == "OK":
            assert statuses[request_id] == "OK"
        else:
            assert request_id not in statuses, (request_id, outcome, statuses.get(request_id))


def test_sigkill_then_restart_keeps_every_acknowledged_request(
    triton: TritonServer,
    repository: Path,
    state: tuple[Path, str],
) -> None:
    folder, key = state
    gateway = GatewayProcess(triton.grpc_url, repository, folder).start()
    try:
        assert gateway.process is not None
        results = run_load(gateway.port, key, 2.0, lambda: gateway.process.kill())
        gateway.process.wait(10)
        acknowledged = {rid for rid, outcome in results.items() if outcome == "OK"}
        assert acknowledged
        restarted = GatewayProcess(triton.grpc_url, repository, folder, gateway.port)
        restarted.start()  # replays the spool on start-up
        try:
            engine = make_engine(f"sqlite:///{folder / 'gateway.db'}")
            deadline = time.monotonic() + 30
            while True:
                with Session(engine) as session:
                    counts = dict(
                        session.execute(
                            select(AuditRow.request_id, func.count()).group_by(AuditRow.request_id)
                        ).all()
                    )
                if acknowledged <= set(counts) or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
            engine.dispose()
        finally:
            restarted.stop()
    finally:
        gateway.stop()
    assert acknowledged - set(counts) == set()
    assert all(counts[rid] == 1 for rid in acknowledged)


def test_postgres_outage_through_the_gateway_keeps_every_acknowledged_request(
    start_gateway: Any, triton: TritonServer, repository: Path, postgres_url: str
) -> None:
    if not can_restart_postgres():
        pytest.skip(f"cannot stop and start PostgreSQL cluster {'/'.join(PG_CLUSTER)} here")
    gateway: RunningGateway = start_gateway(
        triton.grpc_url,
        database_url=postgres_url,
        api_keys={"refresh_interval_s": 0.5},
        audit={"retry_initial_s": 0.05, "retry_max_s": 0.5},
        drift_sample_rate=0.1,
        rate_limit_per_second=100_000,  # unthrottled load: see GatewayProcess
        rate_limit_burst=100_000,
        analyzer=TextAnalyzer.from_repository(repository),
    )
    audit: Any = gateway.server.persistence.audit
    key = gateway.create_key(f"pg-outage-{uuid.uuid4().hex[:8]}")
    spooled_while_down: list[int] = []

    def outage() -> None:
        try:
            pg_ctl("stop")
            deadline = time.monotonic() + 15
            while audit.database_ok and time.monotonic() < deadline:
                time.sleep(0.05)
            assert not audit.database_ok, "the audit writer never noticed the outage"
            time.sleep(1.0)  # requests keep being answered and spooled meanwhile
            spooled_while_down.append(audit.spool_depth_records)
        finally:
            if not pg_online():
                pg_ctl("start")

    try:
        prefix = f"pg-{uuid.uuid4().hex[:8]}-"
        results = run_load(gateway.server.port, key, 1.0, outage, prefix)
    finally:
        if not pg_online():
            pg_ctl("start")
    assert set(results.values()) == {"OK"}, {o for o in results.values() if o != "OK"}
    assert spooled_while_down and spooled_while_down[0] > 0
    assert gateway.run(audit.drained(30)), "the spool was not replayed after the restart"
    engine = make_engine(postgres_url)
    try:
        with Session(engine) as session:
            counts = dict(
                session.execute(
                    select(AuditRow.request_id, func.count())
                    .where(AuditRow.request_id.in_(list(results)))
                    .group_by(AuditRow.request_id)
                ).all()
            )
    finally:
        engine.dispose()
    assert counts == {request_id: 1 for request_id in results}
