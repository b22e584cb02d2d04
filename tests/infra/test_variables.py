"""The `SENTIMENT_*` variables the deployment sets line up with the settings classes.

Every name in the compose file, the Terraform task definitions and the Dockerfiles is a
current one (no deprecated name, nothing the CLI's unknown-variable check would refuse),
and the values given to each service load into that service's settings with the addresses
and ports the other side of the wiring uses.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from config.settings import PipelineSettings
from gateway.settings import ApiKeySettings, AuditSettings, GatewaySettings
from monitoring.settings import DriftSettings
from sentiment.cli.environment import deprecated_variables, known_variables
from store.settings import DatabaseSettings

DOCKER = Path(__file__).resolve().parents[2] / "infra" / "docker"
TF_VARIABLE = re.compile(
    r'\{name = "(SENTIMENT_[A-Z0-9_]+)", (value|valueFrom) = ("[^"]*"|[^}]*)\}'
)
ENV_ASSIGNMENT = re.compile(r"\b(SENTIMENT_[A-Z0-9_]+)=(\S+)")


def terraform_variables(terraform: Any, task: str) -> dict[str, str]:
    """Name -> value (as written: a literal in quotes, or an HCL expression) of one task."""
    containers = str(terraform.one("aws_ecs_task_definition", task).body["container_definitions"])
    return {name: value for name, _, value in TF_VARIABLE.findall(containers)}


def dockerfile_variables() -> dict[str, dict[str, str]]:
    found = {}
    for dockerfile in sorted(DOCKER.glob("*.Dockerfile")):
        joined = re.sub(r"\\\n\s*", " ", dockerfile.read_text())
        lines = [line for line in joined.splitlines() if line.strip().startswith("ENV ")]
        found[dockerfile.name] = dict(ENV_ASSIGNMENT.findall(" ".join(lines)))
    return found


def container_port(port: Any) -> str:
    """The container side of a compose port (`127.0.0.1:8001:8001/tcp`, or long syntax)."""
    if isinstance(port, dict):
        return str(port["target"])
    return str(port).split("/")[0].rsplit(":", 1)[-1]


def assert_current(names: set[str], where: str) -> None:
    assert names, f"{where}: no SENTIMENT_* variables found"
    unknown = names - known_variables()
    assert not unknown, f"{where}: unknown variables {sorted(unknown)}"
    old = {name: deprecated_variables()[name] for name in names & set(deprecated_variables())}
    assert not old, f"{where}: deprecated variables (use the replacements) {old}"


def test_compose_sets_only_current_variables(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        names = {k for k in service.get("environment") or {} if k.startswith("SENTIMENT_")}
        if names:
            assert_current(names, f"compose service {name}")


def test_terraform_sets_only_current_variables(terraform: Any) -> None:
    for task in ("gateway", "retention", "migrate"):
        assert_current(set(terraform_variables(terraform, task)), f"{task} task definition")


def test_terraform_retention_task_reaches_the_gateway_database(terraform: Any) -> None:
    """The scheduled job gets the database exactly as the migrate task does (the owner);
    the gateway reaches the same database as its own role, with no password."""
    retention = terraform_variables(terraform, "retention")
    migrate = terraform_variables(terraform, "migrate")
    gateway = terraform_variables(terraform, "gateway")
    database = {name for name in migrate if name.startswith("SENTIMENT_DB_")}
    assert database == {name for name in retention if name.startswith("SENTIMENT_DB_")}
    assert {name: retention[name] for name in database} == {
        name: migrate[name] for name in database
    }
    where = ("SENTIMENT_DB_HOST", "SENTIMENT_DB_PORT", "SENTIMENT_DB_NAME", "SENTIMENT_DB_SSLMODE")
    assert {name: gateway[name] for name in where} == {name: migrate[name] for name in where}
    assert gateway["SENTIMENT_DB_USER"] != migrate["SENTIMENT_DB_USER"]
    assert "SENTIMENT_DB_PASSWORD" not in gateway


def test_dockerfiles_set_only_current_variables() -> None:
    for dockerfile, variables in dockerfile_variables().items():
        if variables:
            assert_current(set(variables), dockerfile)


def test_compose_gateway_settings_reach_the_triton_service(
    compose: dict[str, Any], environment: Any
) -> None:
    services = compose["services"]
    environment(dockerfile_variables()["gateway.Dockerfile"])
    environment(services["gateway"]["environment"])
    settings = GatewaySettings()
    assert settings.triton.host in services  # the Triton service's name resolves to it
    triton_ports = {container_port(port) for port in services[settings.triton.host]["ports"]}
    assert str(settings.triton.grpc_port) in triton_ports
    published = " ".join(str(p) for p in services["gateway"]["ports"])
    assert f":{settings.port}" in published and f":{settings.metrics_port}" in published
    assert DatabaseSettings().resolved_url().startswith("postgresql+psycopg2://")
    assert AuditSettings().resolved_spool_dir().is_relative_to(settings.state_dir)
    ApiKeySettings()  # the pepper's interpolation resolves to a valid (empty) value


def test_compose_jobs_settings(compose: dict[str, Any], environment: Any) -> None:
    services = compose["services"]
    environment(services["pipeline"]["environment"])
    assert PipelineSettings().triton.http_address == "triton:8000"
    environment(services["drift"]["environment"])
    drift = DriftSettings()
    published = " ".join(str(p) for p in services["drift"]["ports"])
    assert f":{drift.metrics_port}" in published


def test_terraform_gateway_settings_reach_triton(terraform: Any, environment: Any) -> None:
    variables = terraform_variables(terraform, "gateway")
    literal = {k: v.strip('"') for k, v in variables.items() if v.startswith('"') and "${" not in v}
    environment(dockerfile_variables()["gateway.Dockerfile"])
    environment(literal)
    settings = GatewaySettings()
    assert variables["SENTIMENT_TRITON_HOST"] == "local.triton_host"
    triton = str(terraform.one("aws_ecs_task_definition", "triton").body["container_definitions"])
    assert f'containerPort = {settings.triton.grpc_port}, protocol = "tcp", name = "grpc"' in triton
    egress = terraform.one("aws_vpc_security_group_egress_rule", "gateway_to_triton").body
    assert egress["from_port"] == egress["to_port"] == settings.triton.grpc_port
    assert AuditSettings().resolved_spool_dir().is_relative_to(settings.state_dir)
