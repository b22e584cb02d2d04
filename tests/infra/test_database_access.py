"""How the ECS tasks reach PostgreSQL: a one-off migrate task as the owner (the master
user, the only task that reads its password), the gateway as its own role with IAM
authentication (no password anywhere), allowed to connect as that role only."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ROOT / "infra" / "terraform" / "modules" / "services"


def definitions(terraform: Any, task: str) -> str:
    """A task's `jsonencode([...])` as python-hcl2 writes it (expressions unquoted)."""
    return str(terraform.one("aws_ecs_task_definition", task).body["container_definitions"])


def env(text: str) -> dict[str, str]:
    return dict(re.findall(r'\{name = "([A-Z0-9_]+)", value = "?([^"}]*?)"? ?\}', text))


def secrets(text: str) -> set[str]:
    return set(re.findall(r'\{name = "([A-Z0-9_]+)", valueFrom = ', text))


def test_the_migrate_task_upgrades_as_the_owner_and_creates_the_gateway_role(
    terraform: Any,
) -> None:
    task = terraform.one("aws_ecs_task_definition", "migrate")
    text = definitions(terraform, "migrate")
    command = re.search(r"command = \[([^\]]*)\]", text)
    assert command is not None
    words = [w.strip().strip('"') for w in command.group(1).split(",")]
    assert words == [
        "db", "upgrade", "--gateway-role", "var.db_gateway_username", "--create-role", "iam"
    ]  # fmt: skip
    assert "image = var.gateway_image" in text
    variables = env(text)
    assert variables["SENTIMENT_DB_USER"] == "var.db_username"  # the RDS master user
    assert variables["SENTIMENT_DB_SSLMODE"] == "require"
    assert secrets(text) == {"SENTIMENT_DB_PASSWORD"}
    assert task.body["execution_role_arn"] == "${aws_iam_role.migrate_execution.arn}"
    assert "readonlyRootFilesystem = true" in text


def test_the_gateway_connects_as_its_role_with_iam_and_never_migrates(terraform: Any) -> None:
    text = definitions(terraform, "gateway")
    gateway = text[text.index('name = "gateway"') :]
    variables = env(gateway)
    assert variables["SENTIMENT_DB_USER"] == "var.db_gateway_username"
    assert variables["SENTIMENT_DATABASE_IAM_AUTH"] == "true"
    assert variables["SENTIMENT_DATABASE_MIGRATE_ON_START"] == "false"
    assert variables["SENTIMENT_DB_SSLMODE"] == "require"  # IAM tokens need TLS
    assert variables["AWS_REGION"] == "var.region"
    assert "SENTIMENT_DB_PASSWORD" not in secrets(gateway)
    assert "db_secret_arn" not in gateway


def test_only_the_migrate_task_may_read_the_master_password(terraform: Any) -> None:
    documents = {
        d.name: d.body
        for d in terraform.blocks("data", "aws_iam_policy_document")
        if d.module_dir == SERVICES
    }
    readers = {
        name
        for name, body in documents.items()
        for statement in body.get("statement", [])
        if "${var.db_secret_arn}" in statement.get("resources", [])
    }
    assert readers == {"migrate_secrets"}
    policy = terraform.one("aws_iam_role_policy", "migrate_secrets").body
    assert policy["role"] == "${aws_iam_role.migrate_execution.id}"


def test_the_gateway_task_role_connects_as_the_gateway_user_only(terraform: Any) -> None:
    document = next(
        d
        for d in terraform.blocks("data", "aws_iam_policy_document")
        if d.name == "gateway_db_connect"
    )
    (statement,) = document.body["statement"]
    assert statement["actions"] == ["rds-db:connect"]
    assert statement["resources"] == [
        "arn:aws:rds-db:${var.region}:${var.account_id}:dbuser:"
        "${var.db_resource_id}/${var.db_gateway_username}"
    ]
    policy = terraform.one("aws_iam_role_policy", "gateway_db_connect").body
    assert policy["role"] == "${aws_iam_role.gateway.id}"
    everything = json.dumps([d.body for d in terraform.blocks("data", "aws_iam_policy_document")])
    assert everything.count("rds-db:connect") == 1


def test_the_database_allows_iam_logins(terraform: Any) -> None:
    database = terraform.one("aws_db_instance", "main").body
    assert database["iam_database_authentication_enabled"] is True
    parameters = terraform.one("aws_db_parameter_group", "main").body["parameter"]
    assert {"name": "rds.force_ssl", "value": "1"} in parameters
