"""Rollouts end to end: two published versions, a real Triton, a real gateway, a database.

Shadow (every answer from the served version, copies compared and stored), a 30% canary
(deterministic by request id), rollback, promote, and the guardrail rolling back a
candidate that fails, each through `rollout.control` as `sentiment rollout` runs it.
"""

from __future__ import annotations

import shutil
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from api.generated.sentiment.v1 import sentiment_pb2 as pb
from config.settings import PipelineSettings
from config.triton import TritonSettings
from contract.layout import MODELS
from contract.versions import loaded_versions
from export.golden import golden_texts
from export.metadata import ModelSource
from export.run import export_model_dir
from gateway.core.contracts import bucket
from gateway.core.text import TextAnalyzer
from rollout import control
from rollout.status import status
from serving.tritonserver import TritonServer
from store import make_engine
from store.models import RolloutEventRow, ShadowRow
from tests.gateway.conftest import RunningGateway, auth, triton_server
from tests.variants import shifted_model

pytestmark = pytest.mark.triton

POLL_S = 0.2
SETTLE_S = 1.0
TEXTS = [
    "a great movie",
    "a dull, lifeless mess",
    "the acting is superb and the story moving",
    "i want my two hours back",
]


@pytest.fixture(scope="module")
def repository(
    tiny_model_dir: Path,
    pipeline_settings: PipelineSettings,
    tmp_path_factory: pytest.TempPathFactory,
) -> Path:
    """Version 1, and version 2 whose positive bias is raised: it disagrees on some texts."""
    repo = tmp_path_factory.mktemp("rollout") / "model_repository"
    golden = golden_texts(pipeline_settings.data)[:16]
    first = export_model_dir(tiny_model_dir, repo, golden, ModelSource(run_id="run-one"))
    shifted = shifted_model(tiny_model_dir, tmp_path_factory.mktemp("shifted"), shift=3.0)
    second = export_model_dir(shifted, repo, golden, ModelSource(run_id="run-two"))
    assert (first.version, second.version) == (1, 2)
    assert first.live and not second.live and loaded_versions(repo) == [1]
    return repo


@pytest.fixture(scope="module")
def triton(repository: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TritonServer]:
    with triton_server(
        repository, tmp_path_factory.mktemp("rollout-triton"), models=["sentiment"]
    ) as server:
        yield server


@pytest.fixture(scope="module")
def settings(
    repository: Path, triton: TritonServer, tmp_path_factory: pytest.TempPathFactory
) -> PipelineSettings:
    return PipelineSettings(
        state_dir=tmp_path_factory.mktemp("rollout-state"),
        model_repository=str(repository),
        triton=TritonSettings(http_port=triton.http_port, admin_key=triton.admin_key),
    )


@pytest.fixture(scope="module")
def live(
    triton: TritonServer, repository: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[RunningGateway, str, Engine]]:
    from tests.gateway.conftest import gateway_settings

    state = tmp_path_factory.mktemp("rollout-gateway")
    url = f"sqlite:///{state / 'gateway.db'}"
    gateway = RunningGateway(
        gateway_settings(
            triton.grpc_url,
            models=["sentiment"],
            rollout_poll_seconds=POLL_S,
            guardrail_min_calls=8,
            rate_limit_per_second=100_000,
            rate_limit_burst=100_000,
        ),
        state,
        TextAnalyzer.from_repository(repository),
        database_url=url,
    ).start()
    engine = make_engine(url)
    yield gateway, gateway.create_key("rollout"), engine
    engine.dispose()
    gateway.stop()


def call(gateway: RunningGateway, key: str, request_id: str, text: str = TEXTS[0]) -> pb.ModelInfo:
    answer = gateway.stub.Predict(
        pb.PredictRequest(text=text, request_id=request_id), metadata=auth(key), timeout=10
    )
    return answer.model


def versions(gateway: RunningGateway, key: str, prefix: str, count: int) -> Counter[str]:
    return Counter(
        call(gateway, key, f"{prefix}-{i}", TEXTS[i % len(TEXTS)]).version for i in range(count)
    )


def follow(gateway: RunningGateway) -> None:
    """Wait past the gateway's poll interval (it follows the database within it)."""
    time.sleep(POLL_S * 3)


def test_a_rollout_moves_traffic_by_command(
    live: tuple[RunningGateway, str, Engine], settings: PipelineSettings, repository: Path
) -> None:
    gateway, key, engine = live
    assert versions(gateway, key, "before", 20) == {"1": 20}  # version 2 is published only

    # Shadow: every answer from version 1; every copy to version 2 compared and stored.
    applied = control.start(settings, engine, 2, "tester", shadow=True, settle_s=SETTLE_S)
    assert applied.loaded == [1, 2] and loaded_versions(repository) == [1, 2]
    assert versions(gateway, key, "shadow", 40) == {"1": 40}
    deadline = time.monotonic() + 20
    while (report := status(engine)).get("shadow", {}).get("shadow_calls", 0) < 40:
        assert time.monotonic() < deadline, report
        time.sleep(0.3)
    shadow = report["shadow"]
    assert shadow["errors"] == 0 and shadow["agree"] + shadow["disagree"] == 40
    assert report["agreement_rate"] == shadow["agree"] / 40
    with Session(engine) as session:
        rows = list(session.scalars(select(ShadowRow)))
    assert {r.model_version for r in rows} == {"2"} and {r.served_version for r in rows} == {"1"}
    assert all(r.predictions[0]["mlflow_run_id"] == "run-two" for r in rows)

    control.rollback(settings, engine, "tester", settle_s=SETTLE_S)
    assert loaded_versions(repository) == [1]
    assert versions(gateway, key, "after-shadow", 20) == {"1": 20}

    # Canary 30%: the share follows the request id, the same id always to the same version.
    control.start(settings, engine, 2, "tester", canary_percent=30, settle_s=SETTLE_S)
    answered = {
        f"canary-{i}": call(gateway, key, f"canary-{i}", TEXTS[i % len(TEXTS)]) for i in range(400)
    }
    share = sum(m.version == "2" for m in answered.values()) / len(answered)
    assert 0.20 <= share <= 0.40
    for request_id, model in answered.items():
        assert model.version == ("2" if bucket(request_id) < 30 else "1")
        assert model.mlflow_run_id == ("run-two" if model.version == "2" else "run-one")
    retried = next(r for r, m in answered.items() if m.version == "2")
    assert call(gateway, key, retried).version == "2"
    assert gateway.run(gateway.server.persistence.audit.drained(10))  # type: ignore[attr-defined]
    canary = status(engine)  # from the audit records: every call, the retried one too
    assert [v["version"] for v in canary["versions"]] == [1, 2]
    assert canary["versions"][1]["calls"] == sum(m.version == "2" for m in answered.values()) + 1
    assert canary["calls"] == len(answered) + 1

    control.promote(settings, engine, "tester", settle_s=SETTLE_S)
    assert loaded_versions(repository) == [2]
    assert versions(gateway, key, "promoted", 20) == {"2": 20}
    with Session(engine) as session:
        actions = [
            (e.action, e.actor, e.from_version, e.to_version)
            for e in session.scalars(select(RolloutEventRow).order_by(RolloutEventRow.at))
        ]
    assert actions == [
        ("start", "tester", 1, 2),
        ("rollback", "tester", 2, 1),
        ("start", "tester", 1, 2),
        ("promote", "tester", 1, 2),
    ]


def test_the_guardrail_rolls_back_a_failing_candidate(
    live: tuple[RunningGateway, str, Engine], settings: PipelineSettings, repository: Path
) -> None:
    gateway, key, engine = live
    served = status(engine)["serving_version"] or 1
    broken = max(int(p.name) for p in (repository / "sentiment").iterdir() if p.name.isdigit()) + 1
    for model in MODELS:  # a copy of the served version whose text model always fails
        shutil.copytree(repository / model / str(served), repository / model / str(broken))
    code = repository / "sentiment" / str(broken) / "model.py"
    code.write_text(
        code.read_text().replace(
            "    def execute(self, requests: list[Any]) -> list[Any]:\n",
            "    def execute(self, requests: list[Any]) -> list[Any]:\n"
            '        raise RuntimeError("broken candidate")\n',
        )
    )
    control.start(settings, engine, broken, "tester", canary_percent=50, settle_s=SETTLE_S)
    failed = 0
    for i in range(80):
        try:
            call(gateway, key, f"guardrail-{i}")
        except grpc.RpcError as error:
            assert error.code() == grpc.StatusCode.INTERNAL
            failed += 1
    assert failed > 0
    follow(gateway)
    report = status(engine)
    assert report["rollout"]["state"] == "rolled_back"
    assert report["rollout"]["ended_by"] == "gateway-guardrail"
    assert "error rate" in report["rollout"]["end_reason"]
    assert versions(gateway, key, "after-guardrail", 20) == {str(served): 20}
    assert report["events"][-1]["action"] == "guardrail_rollback"
    metrics = gateway.server.metrics.registry.get_sample_value(
        "sentiment_gateway_rollout_guardrail_rollbacks_total", {"model": "sentiment"}
    )
    assert metrics == 1.0
    control.rollback(settings, engine, "tester", settle_s=SETTLE_S)  # unload the candidate
    assert loaded_versions(repository) == [served]


def test_without_the_admin_key_a_rollout_changes_nothing(
    live: tuple[RunningGateway, str, Engine],
    settings: PipelineSettings,
    repository: Path,
    triton: TritonServer,
) -> None:
    _, _, engine = live
    before, configs = status(engine)["rollout"], loaded_versions(repository)
    wrong = settings.model_copy(
        update={"triton": TritonSettings(http_port=triton.http_port, admin_key="x" * 32)}
    )
    with pytest.raises(control.RolloutError, match="needs the admin key"):
        control.start(wrong, engine, 1, "intruder", canary_percent=50, settle_s=0)
    assert status(engine)["rollout"] == before and loaded_versions(repository) == configs
