"""The audit spool outlives the gateway that wrote it: EFS on ECS, a named volume in compose,
and a stop timeout that covers the gateway's own stop budget (issue 10).

The stop timing reaches Terraform through infra/terraform/modules/services/gateway-stop.json,
written from gateway.settings by scripts/gen_infra_settings.py; compose's grace period is
checked against the same settings here.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gateway.settings import AuditSettings, GatewaySettings, stop_budget_seconds

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ROOT / "infra" / "terraform" / "modules" / "services"
STOP_JSON = SERVICES / "gateway-stop.json"
GATEWAY_DOCKERFILE = ROOT / "infra" / "docker" / "gateway.Dockerfile"
ECS_STOP_TIMEOUT_MAX_S = 120
# The variables that size the stop, and the JSON key each one is passed from.
STOP_VARIABLES = {
    "SENTIMENT_GATEWAY_DRAIN_SECONDS": "drain_seconds",
    "SENTIMENT_AUDIT_CLOSE_TIMEOUT_S": "audit_close_timeout_s",
    "SENTIMENT_AUDIT_LEASE_TTL_S": "audit_lease_ttl_s",
    "SENTIMENT_AUDIT_RECOVERY_INTERVAL_S": "audit_recovery_interval_s",
}
TF_VARIABLE = re.compile(r'\{name = "(SENTIMENT_[A-Z0-9_]+)", value = ([^}]*)\}')


@pytest.fixture(scope="module")
def stop() -> dict[str, Any]:
    return json.loads(STOP_JSON.read_text())


def gateway_containers(terraform: Any) -> str:
    return str(terraform.one("aws_ecs_task_definition", "gateway").body["container_definitions"])


def services_locals(terraform: Any) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for block in terraform.files[SERVICES / "main.tf"].get("locals", []):
        found.update(block)
    return found


def gateway_variables(terraform: Any) -> dict[str, str]:
    return {
        name: value.strip() for name, value in TF_VARIABLE.findall(gateway_containers(terraform))
    }


# ECS: EFS, mounted where the gateway looks for its spool root.


def test_gateway_task_mounts_the_spool_from_efs_with_tls_and_iam(terraform: Any) -> None:
    task = terraform.one("aws_ecs_task_definition", "gateway").body
    volumes = {volume["name"]: volume for volume in task["volume"]}
    efs = volumes["audit-spool"]["efs_volume_configuration"][0]
    assert efs["file_system_id"] == "${aws_efs_file_system.audit_spool.id}"
    assert efs["transit_encryption"] == "ENABLED"
    assert efs["authorization_config"][0] == {
        "access_point_id": "${aws_efs_access_point.audit_spool.id}",
        "iam": "ENABLED",
    }
    assert "root_directory" not in efs  # the access point's root applies
    # Mounted at exactly the spool root the gateway is told, and nothing else of the
    # gateway's state sits on task storage.
    containers = gateway_containers(terraform)
    assert services_locals(terraform)["audit_spool_dir"] == "/var/lib/sentiment/audit-spool"
    assert gateway_variables(terraform)["SENTIMENT_AUDIT_SPOOL_DIR"] == "local.audit_spool_dir"
    # The key snapshot a replacement task starts from lives on the same file system.
    snapshot = '{name = "SENTIMENT_API_KEY_SNAPSHOT_FILE", value = "${local.audit_spool_dir}/'
    assert snapshot in containers
    assert (
        '{sourceVolume = "audit-spool", containerPath = local.audit_spool_dir, readOnly = false}'
        in containers
    )
    assert '"state"' not in containers and "state" not in volumes


def test_gateway_runs_on_a_fargate_platform_with_efs(terraform: Any) -> None:
    service = terraform.one("aws_ecs_service", "gateway").body
    assert service["launch_type"] == "FARGATE"
    version = service["platform_version"]
    assert version == "LATEST" or tuple(map(int, version.split("."))) >= (1, 4, 0)


def test_file_system_is_encrypted_with_the_deployment_key(terraform: Any) -> None:
    fs = terraform.one("aws_efs_file_system", "audit_spool").body
    assert fs["encrypted"] is True
    assert fs["kms_key_id"] == "${var.kms_key_arn}"
    root_call = next(b for b in terraform.blocks("module") if b.name == "services")
    assert root_call.body["kms_key_arn"] == "${module.storage.kms_key_arn}"


def test_mount_targets_in_every_private_subnet_behind_nfs_from_gateways_only(
    terraform: Any,
) -> None:
    target = terraform.one("aws_efs_mount_target", "audit_spool").body
    assert target["count"] == "${length(var.private_subnet_ids)}"
    assert target["subnet_id"] == "${var.private_subnet_ids[count.index]}"
    assert target["security_groups"] == ["${aws_security_group.audit_spool.id}"]
    root_call = next(b for b in terraform.blocks("module") if b.name == "services")
    assert root_call.body["private_subnet_ids"] == "${module.network.private_subnet_ids}"
    group = "${aws_security_group.audit_spool.id}"
    ingress = [r.body for r in terraform.resources("aws_vpc_security_group_ingress_rule")
               if r.body["security_group_id"] == group]  # fmt: skip
    assert ingress == [
        {
            "security_group_id": group,
            "description": "NFS from gateway tasks",
            "referenced_security_group_id": "${aws_security_group.gateway.id}",
            "ip_protocol": "tcp",
            "from_port": 2049,
            "to_port": 2049,
        }
    ]
    egress = terraform.one("aws_vpc_security_group_egress_rule", "gateway_to_audit_spool").body
    assert egress["referenced_security_group_id"] == group
    assert egress["from_port"] == egress["to_port"] == 2049


def test_access_point_is_the_gateway_images_user(terraform: Any) -> None:
    uid = re.search(r"^ARG UID=(\d+)$", GATEWAY_DOCKERFILE.read_text(), re.M)
    assert uid, "gateway.Dockerfile declares no ARG UID"
    assert services_locals(terraform)["gateway_uid"] == uid.group(1)
    point = terraform.one("aws_efs_access_point", "audit_spool").body
    as_uid = "${tonumber(local.gateway_uid)}"
    assert point["posix_user"][0] == {"uid": as_uid, "gid": as_uid}
    root = point["root_directory"][0]
    assert root["path"] not in ("", "/")
    info = root["creation_info"][0]
    assert (info["owner_uid"], info["owner_gid"]) == (as_uid, as_uid)
    assert int(info["permissions"], 8) & 0o007 == 0  # nothing for others


def test_only_the_gateway_role_mounts_through_the_access_point_over_tls(terraform: Any) -> None:
    documents = {d.name: d.body for d in terraform.blocks("data", "aws_iam_policy_document")}
    point = ["${aws_efs_access_point.audit_spool.arn}"]
    task_side = documents["gateway_audit_spool"]["statement"]
    assert len(task_side) == 1
    assert sorted(task_side[0]["actions"]) == [
        "elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite"
    ]  # fmt: skip
    assert task_side[0]["resources"] == ["${aws_efs_file_system.audit_spool.arn}"]
    assert task_side[0]["condition"][0]["variable"] == "elasticfilesystem:AccessPointArn"
    assert task_side[0]["condition"][0]["values"] == point
    attached = terraform.one("aws_iam_role_policy", "gateway_audit_spool").body
    assert attached["role"] == "${aws_iam_role.gateway.id}"
    statements = {s.get("sid"): s for s in documents["audit_spool_file_system"]["statement"]}
    allow = statements["GatewayTasksThroughTheAccessPoint"]
    assert allow["principals"][0]["identifiers"] == ["${aws_iam_role.gateway.arn}"]
    assert allow["condition"][0]["values"] == point
    assert "elasticfilesystem:ClientRootAccess" not in allow["actions"]
    deny = statements["DenyInsecureTransport"]
    assert deny["effect"] == "Deny"
    assert deny["condition"][0]["variable"] == "aws:SecureTransport"
    assert deny["condition"][0]["values"] == ["false"]
    policy = terraform.one("aws_efs_file_system_policy", "audit_spool").body
    assert policy["policy"] == "${data.aws_iam_policy_document.audit_spool_file_system.json}"


def test_file_system_is_in_a_backup_plan(terraform: Any) -> None:
    selection = terraform.one("aws_backup_selection", "audit_spool").body
    assert selection["resources"] == ["${aws_efs_file_system.audit_spool.arn}"]
    assert selection["plan_id"] == "${aws_backup_plan.audit_spool.id}"
    vault = terraform.one("aws_backup_vault", "audit_spool").body
    assert vault["kms_key_arn"] == "${var.kms_key_arn}"
    rule = terraform.one("aws_backup_plan", "audit_spool").body["rule"][0]
    assert rule["lifecycle"][0]["delete_after"] == "${var.backup_retention_days}"


# The stop: one set of numbers, from gateway.settings.


def test_stop_settings_file_is_current() -> None:
    result = subprocess.run(
        [sys.executable, "scripts/gen_infra_settings.py", "--check"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_stop_timeout_comes_from_the_file_and_covers_the_budget(
    terraform: Any, stop: dict[str, Any], environment: Any
) -> None:
    assert services_locals(terraform)["gateway_stop"] == (
        '${jsondecode(file("${path.module}/gateway-stop.json"))}'
    )
    stop_timeouts = re.findall(r"stopTimeout = ([^,}]+)", gateway_containers(terraform))
    assert stop_timeouts == ["local.gateway_stop.stop_timeout_s"]
    environment({})  # the defaults
    budget = stop_budget_seconds(GatewaySettings(), AuditSettings())
    assert stop["stop_budget_s"] == budget
    assert budget < stop["stop_timeout_s"] <= ECS_STOP_TIMEOUT_MAX_S
    assert isinstance(stop["stop_timeout_s"], int)


def test_task_passes_the_stop_settings_from_the_same_file(
    terraform: Any, stop: dict[str, Any], environment: Any
) -> None:
    variables = gateway_variables(terraform)
    for name, key in STOP_VARIABLES.items():
        assert variables.get(name) == f"tostring(local.gateway_stop.{key})", name
    # What the gateway then runs with: its stop fits the task's stop timeout.
    environment({name: str(stop[key]) for name, key in STOP_VARIABLES.items()})
    gateway, audit = GatewaySettings(), AuditSettings()
    assert stop_budget_seconds(gateway, audit) == stop["stop_budget_s"]
    assert stop_budget_seconds(gateway, audit) < stop["stop_timeout_s"]
    # A lease outlives several renewals, so a live gateway never looks gone.
    assert audit.lease_ttl_s >= 3 * audit.recovery_interval_s


def test_load_balancer_drains_calls_as_long_as_the_gateway(
    terraform: Any, stop: dict[str, Any]
) -> None:
    target_group = terraform.one("aws_lb_target_group", "gateway").body
    assert target_group["deregistration_delay"] == "${local.gateway_stop.deregistration_delay_s}"
    assert stop["deregistration_delay_s"] >= stop["drain_seconds"]
    # The health-check grace covers the container's own start period.
    service = terraform.one("aws_ecs_service", "gateway").body
    start_period = re.search(
        r"grpc-health-check.*?startPeriod\s*=\s*(\d+)", gateway_containers(terraform), re.S
    )
    assert start_period
    assert service["health_check_grace_period_seconds"] >= int(start_period.group(1))


# Compose: a named volume, and a grace period that covers the budget.


def grace_seconds(value: Any) -> float:
    """compose's duration (`45s`, `1m30s`, or seconds as a number) in seconds."""
    if isinstance(value, int | float):
        return float(value)
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001, "us": 1e-6}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|us|h|m|s)", str(value))
    assert parts and "".join(n + u for n, u in parts) == str(value), value
    return sum(float(number) * units[unit] for number, unit in parts)


def test_compose_grace_period_covers_the_stop_budget(
    compose: dict[str, Any], stop: dict[str, Any], environment: Any
) -> None:
    gateway = compose["services"]["gateway"]
    environment(
        {k: str(v) for k, v in gateway["environment"].items() if k.startswith("SENTIMENT_")}
    )
    budget = stop_budget_seconds(GatewaySettings(), AuditSettings())
    grace = grace_seconds(gateway["stop_grace_period"])
    assert grace >= budget + stop["stop_margin_s"], (grace, budget)


def test_compose_spool_root_is_on_a_named_volume(compose: dict[str, Any]) -> None:
    gateway = compose["services"]["gateway"]
    spool = Path(gateway["environment"]["SENTIMENT_AUDIT_SPOOL_DIR"])
    named = {}
    for volume in gateway["volumes"]:
        if isinstance(volume, dict):
            source, target, kind = volume.get("source"), volume["target"], volume.get("type")
        else:
            source, target = str(volume).split(":")[:2]
            kind = "volume" if not source.startswith((".", "/")) else "bind"
        if kind == "volume" and source:
            named[Path(target)] = source
    holding = [target for target in named if spool.is_relative_to(target)]
    assert holding, f"{spool} is on no named volume: {gateway['volumes']}"
    volume = named[max(holding, key=lambda p: len(p.parts))]
    assert volume in compose["volumes"]
    assert not (compose["volumes"][volume] or {}).get("external")
