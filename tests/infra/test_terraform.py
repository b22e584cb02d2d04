"""Terraform: every file parses (python-hcl2), modules are wired, and the security and
serving properties of the deployment hold in the code."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
TERRAFORM = ROOT / "infra" / "terraform"


def text(block: Any, key: str) -> str:
    return str(block.body.get(key, ""))


def test_every_tf_file_parses(terraform: Any) -> None:
    expected = {path for path in TERRAFORM.rglob("*.tf")}
    assert set(terraform.files) == expected
    for module in ("network", "storage", "registry", "database", "gpu_cluster", "services"):
        assert (TERRAFORM / "modules" / module / "main.tf") in terraform.files


def declared_variables(terraform: Any, directory: Path) -> dict[str, dict[str, Any]]:
    return {
        block.name: block.body
        for block in terraform.blocks("variable")
        if block.module_dir == directory
    }


def test_module_calls_match_module_variables(terraform: Any) -> None:
    """What `terraform validate` would catch first: unknown or missing module inputs."""
    for call in terraform.blocks("module"):
        directory = (call.module_dir / call.body["source"]).resolve()
        variables = declared_variables(terraform, directory)
        arguments = set(call.body) - {"source", "count", "for_each", "depends_on", "providers"}
        assert arguments <= set(variables), f"{call.name}: unknown {arguments - set(variables)}"
        required = {name for name, body in variables.items() if "default" not in body}
        assert required <= arguments, f"{call.name}: missing {required - arguments}"


def test_every_referenced_variable_is_declared(terraform: Any) -> None:
    directories = {path.parent for path in terraform.files}
    for directory in directories:
        declared = set(declared_variables(terraform, directory))
        used = set()
        for path in directory.glob("*.tf"):
            used |= set(re.findall(r"\bvar\.([a-z0-9_]+)", path.read_text()))
        assert used <= declared, f"{directory}: undeclared {used - declared}"
        assert declared <= used, f"{directory}: unused {declared - used}"


def test_environments_set_every_required_variable(tfvars: dict[str, Any], terraform: Any) -> None:
    assert set(tfvars) == {"dev", "prod"}
    root = declared_variables(terraform, TERRAFORM)
    required = {name for name, body in root.items() if "default" not in body}
    for env, values in tfvars.items():
        assert values["environment"] == env
        assert required <= set(values), f"{env}: missing {required - set(values)}"
        assert set(values) - {"__comments__"} <= set(root), f"{env}: unknown variables"
        assert (TERRAFORM / "environments" / f"{env}.backend.hcl").is_file()


def test_prod_protects_its_data(tfvars: dict[str, Any], terraform: Any) -> None:
    prod = tfvars["prod"]
    assert prod["deletion_protection"] is True
    assert prod["db_multi_az"] is True
    assert prod["backup_retention_days"] >= 7
    assert prod["log_retention_days"] >= 365
    # Secure defaults: an environment that says nothing gets protection.
    root = declared_variables(terraform, TERRAFORM)
    assert root["deletion_protection"]["default"] is True


def triton_containers(terraform: Any) -> str:
    return text(terraform.one("aws_ecs_task_definition", "triton"), "container_definitions")


def test_triton_task_needs_a_gpu_and_sized_shared_memory(terraform: Any) -> None:
    task = terraform.one("aws_ecs_task_definition", "triton")
    containers = triton_containers(terraform)
    assert task.body["requires_compatibilities"] == ["EC2"]
    assert re.search(
        r'resourceRequirements\s*=\s*\[\{type\s*=\s*"GPU",\s*value\s*=\s*"1"\}\]', containers
    )
    assert "sharedMemorySize = var.triton_shm_mib" in containers
    shm = declared_variables(terraform, TERRAFORM / "modules" / "services")["triton_shm_mib"]
    assert shm["default"] >= 256
    assert re.search(r"stopTimeout\s*=\s*120", containers)
    assert "http://127.0.0.1:8000/v2/health/ready" in containers
    assert "TRITON_MODEL_REPOSITORY" in containers and "local.release_uri" in containers


def test_triton_runs_on_the_gpu_capacity_provider(terraform: Any) -> None:
    service = terraform.one("aws_ecs_service", "triton")
    strategy = service.body["capacity_provider_strategy"][0]
    assert strategy["capacity_provider"] == "${var.gpu_capacity_provider}"
    provider = terraform.one("aws_ecs_capacity_provider", "gpu")
    scaling = provider.body["auto_scaling_group_provider"][0]["managed_scaling"][0]
    assert scaling["status"] == "ENABLED"
    ami = declared_variables(terraform, TERRAFORM / "modules" / "gpu_cluster")["ami_ssm_parameter"]
    assert (
        ami["default"].startswith("/aws/service/ecs/optimized-ami/") and "/gpu/" in ami["default"]
    )
    assert terraform.one("aws_autoscaling_group", "gpu").body["protect_from_scale_in"] is True


def test_gateway_service_is_fargate_behind_a_grpc_tls_listener(terraform: Any) -> None:
    assert terraform.one("aws_ecs_service", "gateway").body["launch_type"] == "FARGATE"
    target_group = terraform.one("aws_lb_target_group", "gateway").body
    assert target_group["protocol_version"] == "GRPC"
    assert target_group["health_check"][0]["path"] == "/grpc.health.v1.Health/Check"
    listener = terraform.one("aws_lb_listener", "tls").body
    assert listener["protocol"] == "HTTPS" and listener["port"] == 443
    assert listener["ssl_policy"].startswith("ELBSecurityPolicy-TLS13")
    containers = text(terraform.one("aws_ecs_task_definition", "gateway"), "container_definitions")
    assert "SENTIMENT_TRITON_HOST" in containers and "local.triton_host" in containers
    assert "readonlyRootFilesystem = true" in containers
    assert "grpc-health-check" in containers


def test_service_discovery_and_autoscaling(terraform: Any) -> None:
    assert terraform.resources("aws_service_discovery_private_dns_namespace")
    registries = {
        name: terraform.one("aws_ecs_service", name).body["service_registries"][0]["registry_arn"]
        for name in ("triton", "gateway")
    }
    assert registries["triton"] == '${aws_service_discovery_service.main["triton"].arn}'
    policy = terraform.one("aws_appautoscaling_policy", "cpu").body
    assert policy["policy_type"] == "TargetTrackingScaling"
    assert "triton" in text(terraform.one("aws_appautoscaling_target", "service"), "for_each") or (
        "local.scaling" in text(terraform.one("aws_appautoscaling_target", "service"), "for_each")
    )


def test_no_public_database(terraform: Any) -> None:
    db = terraform.one("aws_db_instance", "main").body
    assert db["publicly_accessible"] is False
    assert db["storage_encrypted"] is True and db["kms_key_id"] == "${var.kms_key_arn}"
    assert db["manage_master_user_password"] is True
    assert "password" not in db
    assert db["deletion_protection"] == "${var.deletion_protection}"
    assert db["backup_retention_period"] == "${var.backup_retention_days}"
    assert db["db_subnet_group_name"] == "${aws_db_subnet_group.main.name}"
    subnets = terraform.one("aws_db_subnet_group", "main").body["subnet_ids"]
    assert subnets == "${var.subnet_ids}"
    root_call = next(b for b in terraform.blocks("module") if b.name == "database")
    assert root_call.body["subnet_ids"] == "${module.network.private_subnet_ids}"
    ingress = terraform.resources("aws_vpc_security_group_ingress_rule")
    into_db = [r for r in ingress if r.body["security_group_id"] == "${var.db_security_group_id}"]
    assert into_db and all("cidr_ipv4" not in r.body for r in into_db)
    ssl = [p for p in terraform.one("aws_db_parameter_group", "main").body["parameter"]]
    assert {"name": "rds.force_ssl", "value": "1"} in ssl


def test_no_public_ips_on_tasks_or_instances(terraform: Any) -> None:
    for service in terraform.resources("aws_ecs_service"):
        assert service.body["network_configuration"][0]["assign_public_ip"] is False
    for subnet in terraform.resources("aws_subnet"):
        assert subnet.body.get("map_public_ip_on_launch", False) is False


def test_encryption_everywhere(terraform: Any) -> None:
    for group in terraform.resources("aws_cloudwatch_log_group"):
        assert group.body.get("kms_key_id") == "${var.kms_key_arn}", group.name
        assert str(group.body["retention_in_days"]).startswith("${var.log_retention_days")
    for repo in terraform.resources("aws_ecr_repository"):
        assert repo.body["encryption_configuration"][0]["encryption_type"] == "KMS"
    for secret in terraform.resources("aws_secretsmanager_secret"):
        assert secret.body["kms_key_id"] == "${var.kms_key_arn}"
    encryption = terraform.resources("aws_s3_bucket_server_side_encryption_configuration")
    assert {e.name for e in encryption} == {"data", "access_logs"}
    data = next(e for e in encryption if e.name == "data").body
    assert (
        data["rule"][0]["apply_server_side_encryption_by_default"][0]["sse_algorithm"] == "aws:kms"
    )
    for file_system in terraform.resources("aws_efs_file_system"):
        assert file_system.body["encrypted"] is True
        assert file_system.body["kms_key_id"] == "${var.kms_key_arn}"
    for vault in terraform.resources("aws_backup_vault"):
        assert vault.body["kms_key_arn"] == "${var.kms_key_arn}"
    template = terraform.one("aws_launch_template", "gpu").body
    assert template["block_device_mappings"][0]["ebs"][0]["encrypted"] is True
    assert template["metadata_options"][0]["http_tokens"] == "required"
    assert terraform.one("aws_kms_key", "main").body["enable_key_rotation"] is True
    assert terraform.one("aws_prometheus_workspace", "main").body["kms_key_arn"]


def test_s3_buckets_private_versioned_tls_only(terraform: Any) -> None:
    buckets = {b.name for b in terraform.resources("aws_s3_bucket")}
    assert buckets == {"data", "access_logs"}
    for kind in ("public_access_block", "versioning", "policy", "lifecycle_configuration"):
        names = {b.name for b in terraform.resources(f"aws_s3_bucket_{kind}")}
        assert names == buckets, kind
    for block in terraform.resources("aws_s3_bucket_public_access_block"):
        for flag in ("block_public_acls", "block_public_policy", "ignore_public_acls",
                     "restrict_public_buckets"):  # fmt: skip
            assert block.body[flag] is True
    documents = {d.name: d.body for d in terraform.blocks("data", "aws_iam_policy_document")}
    for name in ("tls_only", "access_logs"):
        deny = documents[name]["statement"][0]
        assert deny["effect"] == "Deny" and deny["actions"] == ["s3:*"]
        assert deny["condition"][0]["variable"] == "aws:SecureTransport"
        assert deny["condition"][0]["values"] == ["false"]


def test_ecr_scan_on_push_and_immutable_tags(terraform: Any) -> None:
    repo = terraform.one("aws_ecr_repository", "main").body
    assert repo["image_tag_mutability"] == "IMMUTABLE"
    assert repo["image_scanning_configuration"][0]["scan_on_push"] is True
    assert terraform.resources("aws_ecr_lifecycle_policy")


DATA_SERVICES = ("s3", "secretsmanager", "rds", "kms", "dynamodb", "aps", "logs")


@pytest.mark.parametrize("service", DATA_SERVICES)
def test_no_wildcard_actions_on_data(terraform: Any, service: str) -> None:
    for document in terraform.blocks("data", "aws_iam_policy_document"):
        statements = document.body.get("statement", [])
        for statement in statements:
            if statement.get("effect") == "Deny":
                continue
            for action in statement.get("actions", []):
                if action == "*" or action.startswith(f"{service}:"):
                    wildcard = action == "*" or action.endswith(":*") or "*" in action.split(":")[1]
                    key_admin = document.name == "kms" and statement.get("sid") in (
                        "AccountAdministration", "CloudWatchLogs"
                    )  # fmt: skip
                    assert not wildcard or key_admin, f"{document.name}: {action}"


def test_task_roles_read_only_their_model_prefix(terraform: Any) -> None:
    document = next(d for d in terraform.blocks("data", "aws_iam_policy_document")
                    if d.name == "model_read")  # fmt: skip
    actions = {a for s in document.body["statement"] for a in s["actions"]}
    assert actions == {"s3:ListBucket", "s3:GetObject", "kms:Decrypt"}
    objects = next(s for s in document.body["statement"] if s["sid"] == "ReadReleaseObjects")
    assert objects["resources"] == ["${var.models_bucket_arn}/${each.value}"]
    services = TERRAFORM / "modules" / "services"
    roles = {r.name for r in terraform.resources("aws_iam_role") if r.module_dir == services}
    assert {"triton", "gateway", "execution"} <= roles
    assert not terraform.resources("aws_iam_user")


def test_log_retention_and_deletion_protection_wired(terraform: Any) -> None:
    root = declared_variables(terraform, TERRAFORM)
    assert root["log_retention_days"]["default"] >= 365
    lb = terraform.one("aws_lb", "gateway").body
    assert lb["enable_deletion_protection"] == "${var.deletion_protection}"
    assert lb["drop_invalid_header_fields"] is True
    assert lb["access_logs"][0]["enabled"] is True
    assert terraform.resources("aws_flow_log")
