"""The GitHub Actions workflow: every stage the issue lists, least-privilege tokens."""

from __future__ import annotations

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
