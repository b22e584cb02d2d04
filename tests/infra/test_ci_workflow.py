"""The GitHub Actions workflow: every stage the issue lists, least-privilege tokens."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"


@pytest.fixture(scope="module")
def workflow() -> dict[str, Any]:
    return yaml.safe_load(WORKFLOW.read_text())


def steps_text(job: dict[str, Any]) -> str:
    return "\n".join(str(step.get("run", "")) + str(step.get("uses", "")) for step in job["steps"])


def test_every_stage_is_present(workflow: dict[str, Any]) -> None:
    jobs = workflow["jobs"]
    everything = "\n".join(steps_text(job) for job in jobs.values())
    for command in ("make lint", "bandit", "pip-audit", "buf lint", "buf breaking",
                    "make check-infra", "make test", "build-push-action", "trivy-action",
                    "terraform apply", "smoke-test.sh"):  # fmt: skip
        assert command in everything, command
    assert jobs["deploy-dev"]["needs"] == ["images"]
    assert set(jobs["images"]["needs"]) == {"lint", "security", "infra", "test"}


def test_least_privilege_tokens(workflow: dict[str, Any]) -> None:
    assert workflow["permissions"] == {"contents": "read"}
    for name, job in workflow["jobs"].items():
        permissions = job.get("permissions", {})
        assert "write-all" not in str(permissions), name
        if permissions.get("id-token") == "write":  # OIDC to AWS, no stored keys
            assert name in ("images", "deploy-dev")


def test_deploys_only_from_main(workflow: dict[str, Any]) -> None:
    deploy = workflow["jobs"]["deploy-dev"]
    assert "refs/heads/main" in deploy["if"] and deploy["environment"] == "dev"
    assert "AWS_SECRET_ACCESS_KEY" not in WORKFLOW.read_text()


def test_referenced_files_exist(workflow: dict[str, Any]) -> None:
    for name in ("gateway", "triton", "pipeline", "mlflow"):
        assert (ROOT / "infra" / "docker" / f"{name}.Dockerfile").is_file()
    assert workflow["jobs"]["images"]["strategy"]["matrix"]["image"] == [
        "gateway", "triton", "pipeline", "mlflow"
    ]  # fmt: skip
    assert (ROOT / "infra" / "scripts" / "smoke-test.sh").is_file()
    assert (ROOT / "infra" / "terraform" / "environments" / "dev.backend.hcl").is_file()


# owner/repo[/path]@<commit> # <tag>: a tag can be moved to other code, a commit cannot.
PINNED_ACTION = re.compile(r"[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40} # v?\d+(\.\d+)*")


def test_every_action_is_pinned_by_commit() -> None:
    for path in sorted((ROOT / ".github").rglob("*.y*ml")):
        lines = path.read_text().splitlines()
        uses = [
            line.split("uses:", 1)[1].strip() for line in lines if re.match(r"\s*(- )?uses:", line)
        ]
        assert uses, f"{path.name}: no actions found"
        for action in uses:
            if action.startswith("./"):  # an action of this repository
                continue
            if action.startswith("docker://"):
                assert re.search(r"@sha256:[0-9a-f]{64}$", action), f"{path.name}: {action}"
                continue
            assert PINNED_ACTION.fullmatch(action), f"{path.name}: {action} is not pinned by commit"


def test_the_pin_check_refuses_tags_and_short_shas() -> None:
    assert PINNED_ACTION.fullmatch("actions/checkout@" + "0" * 40 + " # v4.4.0")
    assert PINNED_ACTION.fullmatch("github/codeql-action/init@" + "a" * 40 + " # v3.28.1")
    tag, short, bare = "actions/checkout@v4", "actions/checkout@11d5960", "actions/x@" + "0" * 40
    for unpinned in (tag, short, bare, "aquasecurity/trivy-action@0.28.0"):
        assert not PINNED_ACTION.fullmatch(unpinned), unpinned
