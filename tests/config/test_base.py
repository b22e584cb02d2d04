"""The settings base: variable names, renamed and retired variables, one-line errors."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

import config.settings
import config.triton
import gateway.settings
import monitoring.settings
import store.settings
from config import ConfigurationError, DeprecatedVariableWarning
from config.base import ComponentSettings, EnvironmentSettings
from config.settings import PipelineSettings
from gateway.settings import ApiKeySettings, AuditSettings, GatewaySettings
from monitoring.settings import DriftSettings
from store.settings import DatabaseSettings

MODULES = (config.settings, config.triton, store.settings, gateway.settings, monitoring.settings)
COMPONENTS = (PipelineSettings, DatabaseSettings, GatewaySettings, AuditSettings, DriftSettings)


def test_state_dir_and_log_level_are_shared_by_every_component(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SENTIMENT_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("SENTIMENT_LOG_LEVEL", "debug")
    for settings in COMPONENTS:
        loaded = settings()
        assert (loaded.state_dir, loaded.log_level) == (tmp_path, "DEBUG"), settings
    assert DatabaseSettings().resolved_url() == f"sqlite:///{tmp_path / 'gateway.db'}"
    assert AuditSettings().resolved_spool_dir() == tmp_path / "audit-spool"
    assert DriftSettings().resolved_report_dir() == tmp_path / "drift-reports"


def test_a_field_is_read_under_its_class_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENTIMENT_GATEWAY_PORT", "6000")
    monkeypatch.setenv("SENTIMENT_DRIFT_METRICS_PORT", "6001")
    monkeypatch.setenv("SENTIMENT_AUDIT_STORE_TEXT", "false")
    monkeypatch.setenv("SENTIMENT_API_KEY_PEPPER", "pepper")
    monkeypatch.setenv("SENTIMENT_DATABASE_URL", "sqlite:////tmp/elsewhere.db")
    assert GatewaySettings().port == 6000
    assert GatewaySettings().metrics_port == 9102  # SENTIMENT_DRIFT_METRICS_PORT is not its
    assert DriftSettings().metrics_port == 6001
    assert AuditSettings().store_text is False
    assert ApiKeySettings().pepper_bytes() == b"pepper"
    assert DatabaseSettings().resolved_url() == "sqlite:////tmp/elsewhere.db"


def test_log_level_is_validated_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENTIMENT_LOG_LEVEL", "LOUD")
    for settings in COMPONENTS:
        with pytest.raises(ConfigurationError) as caught:
            settings()
        message = str(caught.value)
        assert message.startswith("invalid setting SENTIMENT_LOG_LEVEL: 'LOUD' is not a level")
        assert "\n" not in message


def test_renamed_variable_still_works_and_warns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENTIMENT_MAX_TEXT_CHARS", "123")
    with pytest.warns(DeprecatedVariableWarning) as warned:
        settings = GatewaySettings()
    assert settings.max_text_chars == 123
    messages = [str(w.message) for w in warned]
    assert messages == [
        "SENTIMENT_MAX_TEXT_CHARS is deprecated and goes in the next release; "
        "use SENTIMENT_GATEWAY_MAX_TEXT_CHARS"
    ]


def test_the_new_name_wins_over_the_old_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENTIMENT_MAX_TEXT_CHARS", "123")
    monkeypatch.setenv("SENTIMENT_GATEWAY_MAX_TEXT_CHARS", "456")
    with pytest.warns(DeprecatedVariableWarning, match="SENTIMENT_MAX_TEXT_CHARS"):
        assert GatewaySettings().max_text_chars == 456


def test_a_renamed_complex_value_is_decoded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENTIMENT_MODELS", '["sentiment_int8", "sentiment"]')
    with pytest.warns(DeprecatedVariableWarning, match="SENTIMENT_GATEWAY_MODELS"):
        assert GatewaySettings().default_model == "sentiment_int8"


def test_a_bad_value_from_an_old_name_names_the_old_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENTIMENT_RATE_LIMIT_BURST", "0")
    with pytest.warns(DeprecatedVariableWarning), pytest.raises(ConfigurationError) as caught:
        GatewaySettings()
    assert str(caught.value) == (
        "invalid setting SENTIMENT_RATE_LIMIT_BURST: Input should be greater than or equal to 1"
    )


def test_errors_name_the_variable_as_it_was_spelled(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("sentiment_drift_share", "2")
    with pytest.raises(ConfigurationError, match=r"^invalid setting sentiment_drift_share: "):
        DriftSettings()


def test_several_problems_make_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENTIMENT_GATEWAY_PORT", "not-a-port")
    monkeypatch.setenv("SENTIMENT_GATEWAY_MAX_IN_FLIGHT", "0")
    with pytest.raises(ConfigurationError) as caught:
        GatewaySettings()
    message = str(caught.value)
    assert message.startswith("invalid settings: SENTIMENT_GATEWAY_PORT: ")
    assert "; SENTIMENT_GATEWAY_MAX_IN_FLIGHT: " in message and "\n" not in message


def test_a_value_passed_in_code_is_named_by_its_field() -> None:
    with pytest.raises(ConfigurationError, match=r"^invalid setting DriftSettings\.min_samples"):
        DriftSettings(min_samples=0)


def test_a_list_that_is_not_json_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENTIMENT_GATEWAY_MODELS", "sentiment,sentiment_int8")
    with pytest.raises(ConfigurationError, match=r"^invalid setting SENTIMENT_GATEWAY_MODELS: "):
        GatewaySettings()


def test_a_retired_variable_is_ignored_with_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENTIMENT_LABELS", '["bad", "good"]')
    with pytest.warns(DeprecatedVariableWarning, match="SENTIMENT_LABELS is ignored: the labels"):
        settings = GatewaySettings()
    assert not hasattr(settings, "labels")


def test_an_unknown_field_in_code_is_refused() -> None:
    with pytest.raises(ConfigurationError, match=r"GatewaySettings\.labels"):
        GatewaySettings(labels=["a", "b"])


def all_settings_classes() -> list[type[EnvironmentSettings]]:
    found = []
    for module in MODULES:
        for _, value in inspect.getmembers(module, inspect.isclass):
            if issubclass(value, EnvironmentSettings) and value.__module__ == module.__name__:
                found.append(value)
    return found


def test_each_variable_belongs_to_one_class() -> None:
    classes = all_settings_classes()
    assert len(classes) == 7
    owners: dict[str, str] = {}
    for settings in classes:
        shared = {settings.variable(f) for f in ComponentSettings.model_fields}
        for name in settings.variables():
            assert name.startswith("SENTIMENT_") and name == name.upper(), name
            if name not in shared:
                assert name not in owners, f"{name}: {owners.get(name)} and {settings.__name__}"
                owners[name] = settings.__name__


def test_every_field_has_a_docstring() -> None:
    for settings in (ComponentSettings, *all_settings_classes()):
        body = ast.parse(inspect.getsource(settings)).body[0].body  # type: ignore[attr-defined]
        for field, following in zip(body, [*body[1:], None], strict=True):
            if (
                isinstance(field, ast.AnnAssign)
                and isinstance(field.target, ast.Name)
                and not ast.unparse(field.annotation).startswith("ClassVar")
            ):
                name = f"{settings.__name__}.{field.target.id}"
                assert isinstance(following, ast.Expr), f"{name} has no docstring"
