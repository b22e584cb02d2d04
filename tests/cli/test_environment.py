"""The unknown-variable check: every `SENTIMENT_*` variable must be one that something
reads; the real `sentiment` command refuses a mistyped one with one line, and still takes
the names of the earlier release (with a warning)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from config import ConfigurationError
from config.base import ENV_PREFIX
from sentiment.cli.environment import (
    OUTSIDE_SETTINGS,
    check_environment,
    deprecated_variables,
    known_variables,
    settings_classes,
)
from tests.commands import refusal, sentiment
from tests.gateway.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
NAME = re.compile(r"\bSENTIMENT_[A-Z0-9_]+")


def test_an_unknown_variable_is_named_with_the_closest_known_one() -> None:
    with pytest.raises(ConfigurationError) as caught:
        check_environment({"SENTIMENT_GATWAY_PORT": "1", "PATH": "/bin"})
    assert str(caught.value) == (
        "unknown variable SENTIMENT_GATWAY_PORT (did you mean SENTIMENT_GATEWAY_PORT?)"
    )


def test_every_unknown_variable_is_named_as_it_was_set() -> None:
    with pytest.raises(ConfigurationError) as caught:
        check_environment({"sentiment_triton_hots": "x", "SENTIMENT_ZZZZZZZZZZZZZZZZZZZ": "1"})
    assert str(caught.value) == (
        "unknown variable SENTIMENT_ZZZZZZZZZZZZZZZZZZZ; "
        "unknown variable sentiment_triton_hots (did you mean SENTIMENT_TRITON_HOST?)"
    )


def test_current_old_and_outside_names_are_known() -> None:
    check_environment(
        {
            "SENTIMENT_GATEWAY_PORT": "1",  # a settings field
            "SENTIMENT_STATE_DIR": "/tmp",  # a shared field
            "sentiment_database_url": "sqlite://",  # any case, as the settings read it
            "SENTIMENT_TRITON_GRPC_URL": "x:1",  # renamed
            "SENTIMENT_LABELS": "[]",  # retired
            "SENTIMENT_API_KEY": "k",  # the client's
            "SENTIMENT_DB_PASSWORD": "p",  # the image entry point's
            "SENTIMENT_ORT_THREADS": "2",  # a Triton backend's
            "OTHER_VARIABLE": "ignored",
        }
    )


def test_deprecated_names_say_what_replaces_them() -> None:
    replaced = deprecated_variables()
    assert replaced["SENTIMENT_MAX_TEXT_CHARS"] == "SENTIMENT_GATEWAY_MAX_TEXT_CHARS"
    assert (
        replaced["SENTIMENT_TRITON_URL"] == "SENTIMENT_TRITON_HOST and SENTIMENT_TRITON_HTTP_PORT"
    )
    assert replaced["SENTIMENT_LABELS"].startswith("nothing (")
    assert set(replaced) <= known_variables()


def repository_files() -> list[Path]:
    """What operators and the code read: sources, scripts, infra, docs (not the tests)."""
    patterns = ["*.py", "*.sh", "*.md", "*.yml", "*.tf", "*.Dockerfile", "Makefile"]
    skip = {"tests", ".venv", ".state", ".git", "generated", "node_modules", ".hypothesis"}
    return [
        path
        for pattern in patterns
        for path in ROOT.rglob(pattern)
        if not skip & set(path.relative_to(ROOT).parts)
    ]


def test_every_variable_the_repository_names_is_known() -> None:
    known = known_variables()
    unknown = {}
    for path in repository_files():
        text = path.read_text(encoding="utf-8", errors="replace")
        for match in NAME.finditer(text):
            name = match.group()
            if name.endswith("_") or name in known:  # `SENTIMENT_DB_{part}`: a prefix
                continue
            if re.search(r"unknown variable\s+$", text[max(0, match.start() - 40) : match.start()]):
                continue  # an example of the check's message
            unknown.setdefault(name, str(path.relative_to(ROOT)))
    assert unknown == {}


def readme_configuration_names() -> set[str]:
    """Variables in the README's Configuration section; `X_PORT` / `_METRICS_PORT` names
    the second one with the first one's component prefix."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    prefixes = {
        settings.variable(field): settings.variable(field).removesuffix(field.upper())
        for settings in settings_classes()
        for field in settings.model_fields
    }
    names, prefix = set(), ENV_PREFIX
    for token in re.findall(r"`([A-Z0-9_]+)`", section):
        if token.startswith(ENV_PREFIX):
            names.add(token)
            # Outside the settings classes: `SENTIMENT_DB_HOST` / `_PORT`.
            prefix = prefixes.get(token) or ENV_PREFIX + token.split("_")[1] + "_"
        elif token.startswith("_"):
            names.add(prefix + token[1:])
    return names


def test_the_readme_lists_every_variable_and_every_old_name() -> None:
    listed = readme_configuration_names()
    current = {name for settings in settings_classes() for name in settings.variables()}
    outside = {name for name in OUTSIDE_SETTINGS if not name.startswith("SENTIMENT_TEST_")}
    assert (current | outside | set(deprecated_variables())) - listed == set()


def test_a_mistyped_variable_stops_a_command_with_one_line(tmp_path: Path) -> None:
    result = sentiment(tmp_path, "models", SENTIMENT_GATWAY_PORT="1")
    assert result.returncode == 2
    assert refusal(result, "models") == (
        "sentiment models: unknown variable SENTIMENT_GATWAY_PORT "
        "(did you mean SENTIMENT_GATEWAY_PORT?)"
    )


def test_an_invalid_log_level_stops_the_gateway_with_one_line(tmp_path: Path) -> None:
    result = sentiment(tmp_path, "gateway", SENTIMENT_LOG_LEVEL="LOUD")
    assert result.returncode == 2
    assert refusal(result, "gateway").startswith(
        "sentiment gateway: invalid setting SENTIMENT_LOG_LEVEL: 'LOUD' is not a level"
    )


def test_an_old_name_works_with_one_warning_line(tmp_path: Path) -> None:
    address = f"127.0.0.1:{free_port()}"
    result = sentiment(tmp_path, "models", "--json", SENTIMENT_TRITON_URL=address)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["server"]["url"] == address
    assert result.stderr.splitlines() == [
        "<environment>:0: DeprecatedVariableWarning: SENTIMENT_TRITON_URL is deprecated and "
        "goes in the next release; use SENTIMENT_TRITON_HOST and SENTIMENT_TRITON_HTTP_PORT"
    ]


def test_a_bad_value_under_an_old_name_names_the_old_name(tmp_path: Path) -> None:
    result = sentiment(tmp_path, "gateway", SENTIMENT_DRAIN_SECONDS="-1")
    assert result.returncode == 2
    assert refusal(result, "gateway") == (
        "sentiment gateway: invalid setting SENTIMENT_DRAIN_SECONDS: "
        "Input should be greater than or equal to 0"
    )
