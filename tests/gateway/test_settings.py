"""Gateway settings: defaults, env prefix, errors naming the variable, docstrings."""

from __future__ import annotations

import ast
import inspect

import pytest

from gateway import settings as settings_module
from gateway.core.errors import ConfigurationError
from gateway.settings import GatewaySettings, load_settings


def test_defaults_and_ports() -> None:
    settings = GatewaySettings()
    assert (settings.gateway_port, settings.gateway_metrics_port) == (50051, 9102)
    assert settings.default_model == "sentiment"


def test_read_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENTIMENT_MAX_BATCH_TEXTS", "7")
    monkeypatch.setenv("SENTIMENT_MODELS", '["sentiment", "sentiment_int8"]')
    settings = load_settings()
    assert settings.max_batch_texts == 7 and settings.models[1] == "sentiment_int8"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("SENTIMENT_GATEWAY_PORT", "not-a-port"),
        ("SENTIMENT_GATEWAY_PORT", "70000"),
        ("SENTIMENT_MAX_IN_FLIGHT", "0"),
        ("SENTIMENT_TLS_CERT_FILE", "/nonexistent/cert.pem"),
    ],
)
def test_invalid_setting_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigurationError) as caught:
        load_settings()
    assert variable in str(caught.value)


def test_every_field_has_a_docstring() -> None:
    tree = ast.parse(inspect.getsource(settings_module))
    body = next(
        node.body
        for node in tree.body
        if isinstance(node, ast.ClassDef) and node.name == "GatewaySettings"
    )
    for node, following in zip(body, [*body[1:], None], strict=True):
        if isinstance(node, ast.AnnAssign) and node.target.id != "model_config":  # type: ignore[attr-defined]
            assert isinstance(following, ast.Expr), node.target.id  # type: ignore[attr-defined]
