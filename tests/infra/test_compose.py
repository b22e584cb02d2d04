"""The local full stack: `docker-compose config` accepts it and it wires what we rely on."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

COMPOSE_FILE = Path(__file__).resolve().parents[2] / "infra" / "docker-compose.yml"


def test_services(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) == {
        "postgres", "mlflow", "triton", "gateway", "prometheus", "grafana", "drift", "pipeline",
        "retention", "otel-collector", "jaeger",
    }  # fmt: skip


def test_retention_is_a_one_off_job_on_the_shared_state(compose: dict[str, Any]) -> None:
    services = compose["services"]
    retention = services["retention"]
    assert retention["profiles"] == ["pipeline"]  # not started by `up`
    assert retention["image"] == services["pipeline"]["image"]
    assert retention["entrypoint"] == [
        "/usr/local/bin/sentiment-pipeline-job", "sentiment", "retention", "apply"
    ]  # fmt: skip
    # The database and the state directory the drift job writes its reports into.
    drift = services["drift"]["environment"]
    for name in ("SENTIMENT_DATABASE_URL", "SENTIMENT_STATE_DIR"):
        assert retention["environment"][name] == drift[name], name
    assert retention["volumes"] == services["drift"]["volumes"]


def test_every_scrape_target_is_a_service(compose: dict[str, Any]) -> None:
    prometheus = Path(__file__).resolve().parents[2] / "monitoring/prometheus/prometheus.yml"
    config = yaml.safe_load(prometheus.read_text())
    targets = {
        target.split(":")[0]
        for job in config["scrape_configs"]
        for static in job.get("static_configs", [])
        for target in static["targets"]
    }
    assert targets <= set(compose["services"]), targets - set(compose["services"])


def test_ports_bind_to_localhost_only(compose: dict[str, Any]) -> None:
    published = {}
    for name, service in compose["services"].items():
        for port in service.get("ports", []):
            text = port if isinstance(port, str) else f"{port.get('host_ip')}:{port['published']}"
            assert str(text).startswith("127.0.0.1:"), f"{name} publishes {port}"
            published[name] = [*published.get(name, []), str(text).split(":")[1]]
    assert published["gateway"] == ["50051", "9102"]
    assert published["triton"] == ["8000", "8001", "8002"]
    assert published["prometheus"] == ["9090"] and published["grafana"] == ["3000"]
    assert published["mlflow"] == ["5000"]
    assert published["otel-collector"] == ["4318"] and published["jaeger"] == ["16686"]


def test_gateway_and_triton_send_traces_to_the_collector_and_it_to_jaeger(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    env = services["gateway"]["environment"]
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://otel-collector:4318"
    assert env["OTEL_EXPORTER_OTLP_PROTOCOL"] == "http/protobuf"
    triton = services["triton"]["command"]
    assert "--trace-config=mode=opentelemetry" in triton
    assert "--trace-config=opentelemetry,url=http://otel-collector:4318/v1/traces" in triton
    assert "--trace-config=rate=0" in triton  # only what the gateway sampled
    collector = services["otel-collector"]
    mounted = {str(v).split(":")[1]: str(v).split(":")[0] for v in collector["volumes"]}
    config_path = COMPOSE_FILE.parent / mounted["/etc/otelcol/collector.yaml"]
    config = yaml.safe_load(config_path.read_text())
    assert config["receivers"]["otlp"]["protocols"]["http"]["endpoint"] == "0.0.0.0:4318"
    assert config["exporters"]["otlp/jaeger"]["endpoint"] == "jaeger:4317"
    assert config["service"]["pipelines"]["traces"]["exporters"] == ["otlp/jaeger"]
    assert services["jaeger"]["environment"]["COLLECTOR_OTLP_ENABLED"] == "true"


def test_triton_serves_the_cpu_configs(compose: dict[str, Any]) -> None:
    triton = compose["services"]["triton"]
    assert triton["environment"]["TRITON_MODEL_CONFIG_NAME"] == "cpu"
    assert triton["shm_size"] in ("1gb", 1073741824, "1073741824")
    assert any(v.endswith(":/models:ro") or "/models" in str(v) for v in triton["volumes"])
    assert "/v2/health/ready" in " ".join(triton["healthcheck"]["test"])


def test_triton_and_the_loading_job_share_one_admin_key(docker_compose: str) -> None:
    key = "compose-" + "0123456789abcdef" * 2
    result = subprocess.run(
        [docker_compose, "-f", str(COMPOSE_FILE), "config"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "SENTIMENT_TRITON_ADMIN_KEY": key},
    )
    assert result.returncode == 0, result.stderr
    services = yaml.safe_load(result.stdout)["services"]
    assert services["triton"]["environment"]["TRITON_ADMIN_KEY"] == key
    assert services["pipeline"]["environment"]["SENTIMENT_TRITON_ADMIN_KEY"] == key
    # Only what loads models gets the key; the gateway only infers.
    holders = {
        name
        for name, service in services.items()
        if any("ADMIN_KEY" in variable for variable in service.get("environment", {}))
    }
    assert holders == {"triton", "pipeline"}


def test_without_a_key_triton_starts_with_its_repository_api_closed(
    compose: dict[str, Any],
) -> None:
    # The entry point then makes a key nobody holds (tests/infra/test_triton_entrypoint.py).
    assert compose["services"]["triton"]["environment"]["TRITON_ADMIN_KEY"] == ""


def test_gateway_read_only_with_a_state_volume(compose: dict[str, Any]) -> None:
    gateway = compose["services"]["gateway"]
    env = gateway["environment"]
    assert gateway["read_only"] is True
    assert (env["SENTIMENT_TRITON_HOST"], env["SENTIMENT_TRITON_GRPC_PORT"]) == ("triton", "8001")
    assert env["SENTIMENT_DATABASE_URL"].startswith("postgresql+psycopg2://")
    assert "@postgres:5432/" in env["SENTIMENT_DATABASE_URL"]
    assert env["SENTIMENT_AUDIT_SPOOL_DIR"].startswith(env["SENTIMENT_STATE_DIR"])
    targets = [str(v) for v in gateway["volumes"]]
    assert any("/var/lib/sentiment" in v for v in targets)
    assert gateway["depends_on"]["triton"]["condition"] == "service_healthy"
    assert gateway["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_monitoring_files_are_mounted() -> None:
    text = COMPOSE_FILE.read_text()
    for path in (
        "../monitoring/prometheus:/etc/prometheus:ro",
        "../monitoring/grafana/provisioning:/etc/grafana/provisioning:ro",
        "../monitoring/grafana/dashboards:/var/lib/grafana/dashboards:ro",
    ):
        assert path in text
    assert "--config.file=/etc/prometheus/prometheus.yml" in text
