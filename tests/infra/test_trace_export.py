"""Traces on ECS (infra/terraform/modules/services/tracing.tf): off by default; on, an ADOT
collector sidecar per task that the gateway (OTEL_* variables) and Triton (its trace mode)
send to on the task's localhost, forwarding to X-Ray or an OTLP collector."""

from __future__ import annotations

from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ROOT / "infra" / "terraform" / "modules" / "services"


def variables(terraform: Any, directory: Path) -> dict[str, dict[str, Any]]:
    return {
        block.name: block.body
        for block in terraform.blocks("variable")
        if block.module_dir == directory
    }


def text(terraform: Any, type_: str, name: str, key: str) -> str:
    return str(terraform.one(type_, name).body[key])


def test_tracing_is_off_unless_chosen_and_only_known_exporters_are(terraform: Any) -> None:
    declared = variables(terraform, SERVICES)["traces_exporter"]
    assert declared["default"] == "none"
    assert "contains" in str(declared["validation"]) and "xray" in str(declared["validation"])
    root = variables(terraform, SERVICES.parents[1])
    assert {"traces_exporter", "otlp_endpoint", "trace_sample_ratio"} <= root.keys()


def test_each_task_gets_the_sidecar_and_points_at_it(terraform: Any) -> None:
    source = (SERVICES / "tracing.tf").read_text()
    assert 'for task in ["triton", "gateway"]' in source
    assert 'endpoint = "127.0.0.1:4318"' in source  # the task's localhost only
    gateway = text(terraform, "aws_ecs_task_definition", "gateway", "container_definitions")
    triton = text(terraform, "aws_ecs_task_definition", "triton", "container_definitions")
    assert 'local.trace_sidecars["gateway"]' in gateway
    assert "local.gateway_trace_environment" in gateway
    assert 'local.trace_sidecars["triton"]' in triton and "local.triton_trace_arguments" in triton
    for line in (
        '{ name = "OTEL_EXPORTER_OTLP_ENDPOINT", value = local.trace_collector }',
        '{ name = "OTEL_EXPORTER_OTLP_PROTOCOL", value = "http/protobuf" }',
        '"--trace-config", "mode=opentelemetry"',
        '"--trace-config", "opentelemetry,url=${local.trace_collector}/v1/traces"',
        '"--trace-config", "rate=0"',
    ):
        assert line in source, line


def test_xray_permissions_only_for_xray(terraform: Any) -> None:
    document = next(
        d for d in terraform.blocks("data", "aws_iam_policy_document") if d.name == "xray_write"
    )
    [statement] = document.body["statement"]
    assert set(statement["actions"]) == {
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
        "xray:GetSamplingRules",
        "xray:GetSamplingTargets",
    }
    policy = terraform.one("aws_iam_role_policy", "xray_write")
    assert 'var.traces_exporter == "xray"' in str(policy.body["for_each"])
    source = (SERVICES / "tracing.tf").read_text()
    assert "awsxray = { region = var.region }" in source
    assert "otlphttp = { endpoint = var.otlp_endpoint }" in source
