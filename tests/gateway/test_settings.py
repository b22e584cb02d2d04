"""Gateway settings: defaults, the SENTIMENT_GATEWAY_ prefix, the old bare names, errors
naming the variable as it was set, TLS files checked at start-up."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from config import ConfigurationError, DeprecatedVariableWarning
from gateway.core.errors import ConfigurationError as GatewayConfigurationError
from gateway.settings import ApiKeySettings, AuditSettings, GatewaySettings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.upper().startswith("SENTIMENT_"):
            monkeypatch.delenv(name)


def test_defaults_and_ports() -> None:
    settings = GatewaySettings()
    assert (settings.port, settings.metrics_port) == (50051, 9102)
    assert settings.default_model == "sentiment"
    assert settings.triton.grpc_address == "127.0.0.1:8001"
    assert settings.drift_sample_rate == 0.1


def test_read_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENTIMENT_GATEWAY_MAX_BATCH_TEXTS", "7")
    monkeypatch.setenv("SENTIMENT_GATEWAY_MODELS", '["sentiment", "sentiment_int8"]')
    monkeypatch.setenv("SENTIMENT_GATEWAY_DRIFT_SAMPLE_RATE", "0.5")
    settings = GatewaySettings()
    assert settings.max_batch_texts == 7 and settings.models[1] == "sentiment_int8"
    assert settings.drift_sample_rate == 0.5


@pytest.mark.parametrize(
    ("old", "new", "value", "field"),
    [
        ("SENTIMENT_DRAIN_SECONDS", "SENTIMENT_GATEWAY_DRAIN_SECONDS", "3", "drain_seconds"),
        ("SENTIMENT_REFLECTION", "SENTIMENT_GATEWAY_REFLECTION", "true", "reflection"),
        (
            "SENTIMENT_DRIFT_SAMPLE_RATE",
            "SENTIMENT_GATEWAY_DRIFT_SAMPLE_RATE",
            "1",
            "drift_sample_rate",
        ),
        ("SENTIMENT_TRITON_RETRIES", "SENTIMENT_GATEWAY_TRITON_RETRIES", "1", "triton_retries"),
    ],
)
def test_old_names_still_work_with_a_warning(
    monkeypatch: pytest.MonkeyPatch, old: str, new: str, value: str, field: str
) -> None:
    monkeypatch.setenv(old, value)
    with pytest.warns(DeprecatedVariableWarning, match=f"^{old} is deprecated.*; use {new}$"):
        settings = GatewaySettings()
    assert str(getattr(settings, field)).lower() in {value, f"{value}.0"}


def test_triton_retries_above_one_count_as_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENTIMENT_GATEWAY_TRITON_RETRIES", "3")  # the old default
    with pytest.warns(DeprecatedVariableWarning, match="^SENTIMENT_GATEWAY_TRITON_RETRIES=3: "):
        assert GatewaySettings().triton_retries == 1


def test_persistence_variables_keep_their_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENTIMENT_AUDIT_SPOOL_DIR", "/tmp/spool")
    monkeypatch.setenv("SENTIMENT_AUDIT_SPOOL_MAX_BYTES", "4096")
    monkeypatch.setenv("SENTIMENT_API_KEY_CACHE_TTL_S", "0")
    audit = AuditSettings()
    with pytest.warns(DeprecatedVariableWarning):
        keys = ApiKeySettings()
    assert (audit.resolved_spool_dir(), audit.spool_max_bytes) == (Path("/tmp/spool"), 4096)
    assert keys.refresh_interval_s == 0.0 and keys.pepper_bytes() == b""


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("SENTIMENT_GATEWAY_PORT", "not-a-port"),
        ("SENTIMENT_GATEWAY_PORT", "70000"),
        ("SENTIMENT_GATEWAY_MAX_IN_FLIGHT", "0"),
        ("SENTIMENT_MAX_IN_FLIGHT", "0"),
        ("SENTIMENT_GATEWAY_TLS_CERT_FILE", "/nonexistent/cert.pem"),
        ("SENTIMENT_TLS_CERT_FILE", "/nonexistent/cert.pem"),
        ("SENTIMENT_TRITON_GRPC_PORT", "0"),
        ("SENTIMENT_LOG_LEVEL", "LOUD"),
    ],
)
@pytest.mark.filterwarnings("ignore::config.errors.DeprecatedVariableWarning")
def test_invalid_setting_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigurationError) as caught:
        GatewaySettings()
    assert str(caught.value).startswith(f"invalid setting {variable}: ")


def test_tls_files_must_come_together_named_as_set(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    cert = tmp_path / "cert.pem"
    cert.write_text("not checked here")
    monkeypatch.setenv("SENTIMENT_TLS_CERT_FILE", str(cert))
    with pytest.warns(DeprecatedVariableWarning), pytest.raises(ConfigurationError) as caught:
        GatewaySettings()
    assert str(caught.value) == (
        "invalid setting SENTIMENT_TLS_CERT_FILE and SENTIMENT_GATEWAY_TLS_KEY_FILE "
        "must be set together"
    )


def test_gateway_configuration_error_is_the_shared_one() -> None:
    assert issubclass(GatewayConfigurationError, ConfigurationError)
    assert issubclass(ConfigurationError, ValueError)
