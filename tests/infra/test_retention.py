"""Retention on AWS: the daily ECS task that runs `sentiment retention apply`, the roles
around it, and the S3 lifecycle rules for drift reports and retired model releases."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
TERRAFORM = ROOT / "infra" / "terraform"
RETENTION = TERRAFORM / "modules" / "retention"
STORAGE = TERRAFORM / "modules" / "storage"
RETIRE_SCRIPT = ROOT / "infra" / "scripts" / "retire-model-releases.sh"


def variables(terraform: Any, directory: Path) -> dict[str, dict[str, Any]]:
    return {b.name: b.body for b in terraform.blocks("variable") if b.module_dir == directory}


def locals_of(terraform: Any, directory: Path) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for path, document in terraform.files.items():
        if path.parent == directory:
            for block in document.get("locals", []):
                found.update(block)
    return found


def module_call(terraform: Any, name: str) -> dict[str, Any]:
    return next(b.body for b in terraform.blocks("module") if b.name == name)


def policy(terraform: Any, name: str, directory: Path) -> dict[str, Any]:
    documents = terraform.blocks("data", "aws_iam_policy_document")
    return next(d.body for d in documents if d.name == name and d.module_dir == directory)


def test_schedule_runs_daily_by_default_and_can_be_paused(terraform: Any) -> None:
    root = variables(terraform, TERRAFORM)
    default = root["retention_schedule"]["default"]
    assert re.fullmatch(r"cron\(\d{1,2} \d{1,2} \* \* \? \*\)", default) or default == (
        "rate(1 day)"
    ), default
    assert root["retention_enabled"]["default"] is True
    call = module_call(terraform, "retention")
    assert call["schedule_expression"] == "${var.retention_schedule}"
    assert call["enabled"] == "${var.retention_enabled}"
    schedule = terraform.one("aws_scheduler_schedule", "retention").body
    assert schedule["schedule_expression"] == "${var.schedule_expression}"
    assert schedule["state"] == '${var.enabled ? "ENABLED" : "DISABLED"}'


def test_schedule_starts_the_task_privately_on_fargate(terraform: Any) -> None:
    target = terraform.one("aws_scheduler_schedule", "retention").body["target"][0]
    assert target["arn"] == "${var.cluster_arn}"
    assert target["role_arn"] == "${aws_iam_role.scheduler.arn}"
    ecs = target["ecs_parameters"][0]
    assert ecs["task_definition_arn"] == "${aws_ecs_task_definition.retention.arn}"
    assert ecs["launch_type"] == "FARGATE" and ecs["task_count"] == 1
    network = ecs["network_configuration"][0]
    assert network["assign_public_ip"] is False
    assert network["subnets"] == "${var.private_subnet_ids}"
    call = module_call(terraform, "retention")
    assert call["private_subnet_ids"] == "${module.network.private_subnet_ids}"
    assert call["cluster_arn"] == "${module.gpu_cluster.cluster_arn}"


def test_task_runs_retention_apply_in_the_pipeline_image(terraform: Any) -> None:
    task = terraform.one("aws_ecs_task_definition", "retention").body
    assert task["requires_compatibilities"] == ["FARGATE"]
    assert task["execution_role_arn"] == "${aws_iam_role.execution.arn}"
    assert task["task_role_arn"] == "${aws_iam_role.task.arn}"
    containers = str(task["container_definitions"])
    assert re.search(r'command\s*=\s*\["sentiment", "retention", "apply"\]', containers)
    assert re.search(r"image\s*=\s*var\.pipeline_image\b", containers)
    assert "readonlyRootFilesystem = true" in containers
    assert "aws_cloudwatch_log_group.retention.name" in containers
    image = module_call(terraform, "retention")["pipeline_image"]
    assert image.startswith('${module.registry.repository_urls["pipeline"]}:')
    assert "var.pipeline_image_tag" in image
    # The same image the pipeline builds: its entry point runs `sentiment ARGS`.
    dockerfile = (ROOT / "infra" / "docker" / "pipeline.Dockerfile").read_text()
    assert "infra/docker/gateway_entrypoint.py /usr/local/bin/sentiment-entrypoint" in dockerfile
    assert 'ENTRYPOINT ["/usr/local/bin/sentiment-pipeline-job"]' in dockerfile


def test_task_connects_as_the_database_owner_with_the_master_secret(terraform: Any) -> None:
    containers = str(
        terraform.one("aws_ecs_task_definition", "retention").body["container_definitions"]
    )
    for part in ("HOST", "PORT", "NAME", "USER", "SSLMODE"):
        assert f'name = "SENTIMENT_DB_{part}"' in containers
    assert '{name = "SENTIMENT_DB_PASSWORD", valueFrom = "${var.db_secret_arn}:password::"}' in (
        containers
    )
    assert "SENTIMENT_DATABASE_URL" not in containers  # assembled by the entry point
    call = module_call(terraform, "retention")
    services = module_call(terraform, "services")
    for name in ("db_host", "db_port", "db_name", "db_username", "db_secret_arn"):
        assert call[name] == services[name], name  # what the gateway gets: the RDS master
    assert call["db_username"] == "${module.database.username}"


def test_task_reaches_only_the_database_and_aws_apis(terraform: Any) -> None:
    egress = {
        r.name: r.body
        for r in terraform.resources("aws_vpc_security_group_egress_rule")
        if r.module_dir == RETENTION
    }
    assert set(egress) == {"retention_to_db", "retention_https"}
    assert egress["retention_to_db"]["referenced_security_group_id"] == (
        "${var.db_security_group_id}"
    )
    assert egress["retention_to_db"]["from_port"] == "${var.db_port}"
    assert egress["retention_https"]["from_port"] == egress["retention_https"]["to_port"] == 443
    ingress = [
        r for r in terraform.resources("aws_vpc_security_group_ingress_rule")
        if r.module_dir == RETENTION
    ]  # fmt: skip
    assert [r.name for r in ingress] == ["db_from_retention"]
    assert ingress[0].body["security_group_id"] == "${var.db_security_group_id}"
    assert ingress[0].body["referenced_security_group_id"] == ("${aws_security_group.retention.id}")


def test_scheduler_role_can_only_run_that_task(terraform: Any) -> None:
    assume = policy(terraform, "scheduler_assume", RETENTION)["statement"][0]
    assert assume["principals"][0]["identifiers"] == ["scheduler.amazonaws.com"]
    assert assume["condition"][0]["variable"] == "aws:SourceAccount"
    statements = policy(terraform, "scheduler", RETENTION)["statement"]
    assert sorted(a for s in statements for a in s["actions"]) == ["ecs:RunTask", "iam:PassRole"]
    for statement in statements:
        assert statement.get("effect", "Allow") == "Allow"
    run = next(s for s in statements if s["actions"] == ["ecs:RunTask"])
    assert run["resources"] == ["${aws_ecs_task_definition.retention.arn_without_revision}:*"]
    assert run["condition"][0]["variable"] == "ecs:cluster"
    assert run["condition"][0]["values"] == ["${var.cluster_arn}"]
    passing = next(s for s in statements if s["actions"] == ["iam:PassRole"])
    assert passing["resources"] == ["${aws_iam_role.execution.arn}", "${aws_iam_role.task.arn}"]
    assert passing["condition"][0]["values"] == ["ecs-tasks.amazonaws.com"]
    attached = [
        r for r in terraform.resources("aws_iam_role_policy")
        if r.body["role"] == "${aws_iam_role.scheduler.id}"
    ]  # fmt: skip
    assert len(attached) == 1
    assert not [
        r for r in terraform.resources("aws_iam_role_policy_attachment")
        if "scheduler" in str(r.body["role"])
    ]  # fmt: skip


def test_task_role_has_no_permissions_and_execution_reads_one_secret(terraform: Any) -> None:
    policies = [r for r in terraform.resources("aws_iam_role_policy") if r.module_dir == RETENTION]
    assert not [r for r in policies if r.body["role"] == "${aws_iam_role.task.id}"]
    execution = policy(terraform, "execution_secret", RETENTION)["statement"]
    secret = next(s for s in execution if s["actions"] == ["secretsmanager:GetSecretValue"])
    assert secret["resources"] == ["${var.db_secret_arn}"]


def lifecycle_rules(terraform: Any) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """The data buckets' static rules and their per-bucket (dynamic) rules by id."""
    body = terraform.one("aws_s3_bucket_lifecycle_configuration", "data").body
    dynamic = {}
    for entry in body.get("dynamic", []):
        rule = entry["rule"]
        content = rule["content"][0]
        dynamic[content["id"]] = {**content, "for_each": rule["for_each"]}
    return body["rule"], dynamic


def test_drift_reports_expire_under_their_prefix(terraform: Any) -> None:
    _, rules = lifecycle_rules(terraform)
    rule = rules["expire-drift-reports"]
    assert rule["status"] == "Enabled"
    assert 'each.key == "mlflow"' in rule["for_each"]
    assert "var.drift_report_retention_days" in rule["for_each"]
    assert rule["expiration"][0]["days"] == "${rule.value}"
    assert rule["filter"][0]["prefix"] == "${local.drift_reports_prefix}"
    assert locals_of(terraform, STORAGE)["drift_reports_prefix"] == "drift-reports/"
    assert variables(terraform, TERRAFORM)["drift_report_retention_days"]["default"] == 30
    outputs = {
        b.module_dir: b.body["value"]
        for b in terraform.blocks("output", "drift_reports_artifact_location")
    }
    assert outputs[TERRAFORM] == "${module.storage.drift_reports_artifact_location}"
    assert outputs[STORAGE].endswith('/${trimsuffix(local.drift_reports_prefix, "/")}')


def test_retired_releases_expire_by_tag_and_noncurrent_versions_expire(terraform: Any) -> None:
    static, rules = lifecycle_rules(terraform)
    rule = rules["expire-retired-releases"]
    assert 'each.key == "models"' in rule["for_each"]
    tag = rule["filter"][0]["tag"][0]
    assert "prefix" not in rule["filter"][0]  # only tagged objects, wherever they are
    assert (tag["key"], tag["value"]) == (
        "${local.retirement_tag.key}", "${local.retirement_tag.value}"
    )  # fmt: skip
    retirement_tag = locals_of(terraform, STORAGE)["retirement_tag"]
    script = RETIRE_SCRIPT.read_text()
    assert f"tag_key={retirement_tag['key']} tag_value={retirement_tag['value']}" in script
    noncurrent = next(r for r in static if r["id"] == "noncurrent-versions")
    assert noncurrent["filter"] == [{}]
    assert noncurrent["noncurrent_version_expiration"][0]["noncurrent_days"] <= 90
    for rule in rules.values():
        assert rule["noncurrent_version_expiration"]


def test_bucket_policy_refuses_the_tag_on_the_served_release(terraform: Any) -> None:
    document = policy(terraform, "tls_only", STORAGE)
    served = document["dynamic"][0]["statement"]
    assert served["for_each"] == '${each.key == "models" ? [var.model_release] : []}'
    content = served["content"][0]
    assert content["effect"] == "Deny"
    assert set(content["actions"]) == {"s3:PutObjectTagging", "s3:PutObjectVersionTagging"}
    assert content["resources"] == ["${each.value.arn}/releases/${statement.value}/*"]
    assert module_call(terraform, "storage")["model_release"] == "${var.model_release}"
    services = module_call(terraform, "services")
    assert services["model_release"] == "${var.model_release}"  # the same release is served
    # The layout publish-model-release.sh writes and Triton reads: releases/<id>/.
    assert 'release_uri      = "s3://${var.models_bucket}/releases/${var.model_release}"' in (
        (TERRAFORM / "modules" / "services" / "main.tf").read_text()
    )
