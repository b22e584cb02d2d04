"""`sentiment rollout start | promote | rollback`: move traffic between repository versions.

Two places hold a rollout, and each command changes them in the order that never sends a
call to a version Triton has not loaded:

- the repository's configs say which versions Triton loads (`contract.versions`): the
  served one, and the candidate during a rollout;
- the database says how the gateways route (`store.rollouts`); every replica reads it
  every `SENTIMENT_GATEWAY_ROLLOUT_POLL_SECONDS` (at most 5 s).

`start` loads the candidate first (configs, then Triton's load API with the admin key),
checks Triton reports it ready, and only then writes the rollout to the database.
`promote` and `rollback` change the database first, wait `settle_s` for every replica to
follow, and only then unload the version no longer routed to. A rollback the gateways'
guardrail made has already changed the database; `rollback` then unloads the candidate.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine

from config.settings import PipelineSettings
from contract.layout import MODELS, TEXT_MODELS, is_remote, version_folders
from contract.versions import loaded_versions, repository_lock, write_policy
from serving.admin import admin_key
from serving.inventory import models_not_ready, read_server
from serving.tritonserver import load_models
from store import rollouts
from store.rollouts import CANARY, SHADOW, Rollout, RolloutConflict

SETTLE_SECONDS = 6.0
"""How long promote and rollback wait between the database and Triton: past the longest
gateway poll interval (5 s), so that no replica still routes to the version unloaded."""


class RolloutError(Exception):
    """A rollout command cannot do what it was asked (printed as one line)."""


@dataclass(frozen=True)
class Applied:
    """What a rollout command left: the rollout row and the versions Triton loads."""

    rollout: Rollout
    loaded: list[int]
    triton_reached: bool


def repository(settings: PipelineSettings) -> Path:
    location = settings.repository_path()
    if is_remote(location):
        raise RolloutError(
            f"the model repository {location} is remote: rollouts rewrite the configs of a "
            "local repository; run them where it is published, then sync it"
        )
    return Path(location)


def complete_versions(root: Path) -> list[int]:
    """Versions every project model holds (one whole publish each)."""
    found = [{int(p.name) for p in version_folders(root / model)} for model in MODELS]
    return sorted(set.intersection(*found)) if found else []


def served_version(root: Path, latest: Rollout | None) -> int:
    """The version answering every call now (outside a rollout)."""
    if latest is not None:
        return latest.final_version
    loaded = loaded_versions(root)
    if loaded and len(loaded) == 1:
        return loaded[0]
    complete = complete_versions(root)
    if loaded is None and complete:
        return complete[-1]  # a repository from before version policies: Triton's newest
    raise RolloutError(f"cannot tell the served version: the configs load {loaded}")


def start(
    settings: PipelineSettings,
    engine: Engine,
    candidate: int,
    actor: str,
    canary_percent: float | None = None,
    shadow: bool = False,
    settle_s: float = SETTLE_SECONDS,
) -> Applied:
    """Load `candidate` beside the served version, then route to it: `canary_percent`
    percent of calls, or a shadow copy of every call. Returns once every gateway replica
    routes by it (`settle_s` after the database has it)."""
    if shadow == (canary_percent is not None):
        raise RolloutError("give either --canary-percent or --shadow")
    if canary_percent is not None and not 0.0 < canary_percent <= 100.0:
        raise RolloutError("--canary-percent must be in (0, 100]")
    root = repository(settings)
    with repository_lock(root):
        latest = rollouts.latest(engine)
        if latest is not None and latest.state == rollouts.ACTIVE:
            raise RolloutError(
                f"rollout {latest.id} of version {latest.candidate_version} is active: "
                "promote or roll it back first"
            )
        served = served_version(root, latest)
        if candidate == served:
            raise RolloutError(f"version {candidate} is the served version")
        if candidate not in complete_versions(root):
            raise RolloutError(
                f"version {candidate} is not in {root} (versions: {complete_versions(root)})"
            )
        loaded = [served, candidate]
        reached = _apply(settings, root, loaded, check=candidate)
        try:
            rollout = rollouts.start(
                engine,
                served,
                candidate,
                SHADOW if shadow else CANARY,
                canary_percent or 0.0,
                actor,
            )
        except Exception as err:  # the database refused (or another started one): unload
            _apply(settings, root, [served])
            if isinstance(err, RolloutConflict):
                raise RolloutError(str(err)) from err
            raise
    time.sleep(settle_s)
    return Applied(rollout, loaded, reached)


def promote(
    settings: PipelineSettings, engine: Engine, actor: str, settle_s: float = SETTLE_SECONDS
) -> Applied:
    """The candidate answers every call; the old version is unloaded."""
    return _end(settings, engine, actor, rollouts.PROMOTED, "promote", settle_s)


def rollback(
    settings: PipelineSettings, engine: Engine, actor: str, settle_s: float = SETTLE_SECONDS
) -> Applied:
    """The served version answers every call again; the candidate is unloaded. After a
    rollback by the guardrail, only the unloading is left to do."""
    latest = rollouts.latest(engine)
    if latest is not None and latest.state == rollouts.ROLLED_BACK:
        root = repository(settings)
        loaded = [latest.final_version]
        with repository_lock(root):
            if loaded_versions(root) == loaded:
                raise RolloutError(f"no active rollout; version {loaded[0]} serves every call")
            return Applied(latest, loaded, _apply(settings, root, loaded))
    return _end(settings, engine, actor, rollouts.ROLLED_BACK, "rollback", settle_s)


def _end(
    settings: PipelineSettings,
    engine: Engine,
    actor: str,
    state: str,
    action: str,
    settle_s: float,
) -> Applied:
    root = repository(settings)
    with repository_lock(root):
        latest = rollouts.latest(engine)
        if latest is None or latest.state != rollouts.ACTIVE:
            raise RolloutError("no active rollout")
        ended = rollouts.end(engine, latest.id, state, actor, action, f"{action} by {actor}")
        if ended is None:  # the guardrail or another operator ended it meanwhile
            ended = rollouts.latest(engine)
            if ended is None or ended.state != state:
                raise RolloutError(f"rollout {latest.id} ended otherwise meanwhile")
        time.sleep(settle_s)  # every gateway replica routes by the new state by now
        loaded = [ended.final_version]
        return Applied(ended, loaded, _apply(settings, root, loaded))


def served_models(settings: PipelineSettings) -> list[str]:
    """The project's models the running Triton has loaded (what a rollout reloads: never a
    model nobody asked it to serve); [] when no Triton answers."""
    url = settings.triton.http_address
    ready, served, error = read_server(url, admin_key(settings))
    if ready is None:
        return []
    if error is not None:  # it answered but refused the index (no or a wrong admin key)
        raise RolloutError(f"Triton at {url}: {error}")
    names = {model.name for model in served if model.state == "READY"}
    return [name for name in MODELS if name in names]


def _apply(
    settings: PipelineSettings, root: Path, loaded: list[int], check: int | None = None
) -> bool:
    """Make the configs load `loaded` and Triton reload the models it serves; whether a
    Triton answered. With `check`, that version of every text-in model Triton serves must
    be ready, else the configs go back to what they were and RolloutError is raised."""
    before = loaded_versions(root)
    models = served_models(settings)
    write_policy(root, loaded)
    try:
        reached = bool(models) and bool(load_models(settings, models))
        if reached and check is not None:
            text_models = [name for name in models if name in TEXT_MODELS]
            missing = models_not_ready(settings, text_models, str(check))
            if missing:
                raise RolloutError(f"version {check} is not ready in Triton: {missing}")
    except Exception:
        if before:
            write_policy(root, before)
            if models:
                load_models(settings, models)
        raise
    return reached
