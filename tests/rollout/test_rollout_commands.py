"""`rollout.control` without a Triton: what the commands refuse, and that two operators
starting rollouts at once never load each other's candidate away."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import Engine

from config.settings import PipelineSettings
from config.triton import TritonSettings
from contract.layout import CONFIG_FILE, MODELS
from contract.versions import loaded_versions, with_policy
from rollout import control
from store import make_engine, rollouts
from store.migrate import upgrade_database
from tests.gateway.conftest import free_port


@pytest.fixture
def repository(tmp_path: Path) -> Path:
    """Versions 1-3 of every model, the configs loading version 1."""
    root = tmp_path / "model_repository"
    for model in MODELS:
        for version in (1, 2, 3):
            (root / model / str(version)).mkdir(parents=True)
        (root / model / CONFIG_FILE).write_text(with_policy(f'name: "{model}"\n', [1]))
    return root


@pytest.fixture
def settings(repository: Path, tmp_path: Path) -> PipelineSettings:
    # Nothing listens on the port: the commands change the configs and the database only.
    return PipelineSettings(
        state_dir=tmp_path,
        model_repository=str(repository),
        triton=TritonSettings(http_port=free_port(), admin_key="k" * 32),
    )


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    engine = make_engine(f"sqlite:///{tmp_path / 'rollouts.db'}")
    upgrade_database(engine)
    return engine


def test_the_commands_refuse_what_cannot_be_rolled_out(
    settings: PipelineSettings, engine: Engine
) -> None:
    with pytest.raises(control.RolloutError, match="is the served version"):
        control.start(settings, engine, 1, "ana", canary_percent=10, settle_s=0)
    with pytest.raises(control.RolloutError, match="not in"):
        control.start(settings, engine, 9, "ana", canary_percent=10, settle_s=0)
    with pytest.raises(control.RolloutError, match="either"):
        control.start(settings, engine, 2, "ana", settle_s=0)
    with pytest.raises(control.RolloutError, match=r"\(0, 100\]"):
        control.start(settings, engine, 2, "ana", canary_percent=0, settle_s=0)
    with pytest.raises(control.RolloutError, match="no active rollout"):
        control.promote(settings, engine, "ana", settle_s=0)
    applied = control.start(settings, engine, 2, "ana", canary_percent=10, settle_s=0)
    assert not applied.triton_reached and applied.loaded == [1, 2]
    with pytest.raises(control.RolloutError, match="is active"):
        control.start(settings, engine, 3, "bo", shadow=True, settle_s=0)
    assert control.promote(settings, engine, "ana", settle_s=0).loaded == [2]
    assert loaded_versions(Path(settings.repository_path())) == [2]


def test_two_rollouts_started_at_once_leave_one_candidate_loaded(
    settings: PipelineSettings, engine: Engine
) -> None:
    outcomes: dict[int, object] = {}

    def start(candidate: int) -> None:
        try:
            outcomes[candidate] = control.start(
                settings, engine, candidate, f"op{candidate}", canary_percent=50, settle_s=0
            )
        except control.RolloutError as err:
            outcomes[candidate] = err

    threads = [threading.Thread(target=start, args=(c,)) for c in (2, 3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    started = [c for c, o in outcomes.items() if isinstance(o, control.Applied)]
    assert len(started) == 1, outcomes
    active = rollouts.latest(engine)
    assert active is not None and active.candidate_version == started[0]
    assert loaded_versions(Path(settings.repository_path())) == [1, started[0]]
