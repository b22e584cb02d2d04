"""The base of every settings class: how a variable is named, renamed and reported.

A setting is an environment variable named `SENTIMENT_`, the class's component word and
the field's name in capitals: `GatewaySettings.port` is `SENTIMENT_GATEWAY_PORT`. The
fields of `ComponentSettings` (state directory, log level) are shared by every component
and carry no component word: `SENTIMENT_STATE_DIR`, `SENTIMENT_LOG_LEVEL`.

A renamed variable is declared once, on its class (`renamed`): for one release its old
name still sets the field, with a `DeprecatedVariableWarning` naming the old and the new
name, and the new name wins when both are set. A retired variable (`retired`) is accepted
and ignored, with a warning that says why. An invalid value stops the construction of a
settings class with a one-line `ConfigurationError` naming the variable exactly as it was
set, the old name when the value came from it: every component loads through this.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from pydantic import ValidationError, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from config.errors import ConfigurationError, DeprecatedVariableWarning

PROJECT_ROOT = Path(__file__).resolve().parent.parent
ENV_PREFIX = "SENTIMENT_"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

# Which deprecation warnings were shown: each once per process (see `_warn`).
_WARNED: dict[Any, Any] = {}


@dataclass(frozen=True)
class Renamed:
    """An old variable that still sets `fields` of its class, with a warning, for a release."""

    old: str
    fields: tuple[str, ...]
    split: Callable[[str], tuple[str, ...]] | None = None
    """Turns the old value into one value per field (raising ValueError when it cannot);
    None: the old value is the one field's value as it is."""

    def value_for(self, field: str, raw: str, name_as_set: str) -> str:
        if self.split is None:
            return raw
        try:
            parts = self.split(raw)
        except ValueError as error:
            raise ConfigurationError(f"invalid setting {name_as_set}: {error}") from None
        return parts[self.fields.index(field)]


def renamed_from(prefix: str, *fields: str) -> tuple[Renamed, ...]:
    """The fields whose variable used to be `prefix` + the field name in capitals."""
    return tuple(Renamed(prefix + field.upper(), (field,)) for field in fields)


def name_as_set(name: str, environ: Mapping[str, str]) -> str | None:
    """`name` as it is spelled in `environ` (variables match regardless of case), or None."""
    if name in environ:
        return name
    return next((key for key in environ if key.upper() == name), None)


def _warn(message: str) -> None:
    # The cause is a variable, not a line of code: no file and line to show, one line out.
    warnings.warn_explicit(
        message, DeprecatedVariableWarning, "<environment>", 0, "config", registry=_WARNED
    )


class EnvironmentSettings(BaseSettings):
    """Settings read from `SENTIMENT_*` variables, with renamed ones and one-line errors.

    Subclasses set `env_prefix` in `model_config` (always starting with `SENTIMENT_`),
    and may declare `renamed` and `retired` variables.
    """

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, extra="forbid", use_attribute_docstrings=True
    )

    renamed: ClassVar[tuple[Renamed, ...]] = ()
    """Old variables that still set fields of this class, with a warning."""
    retired: ClassVar[Mapping[str, str]] = {}
    """Old variables that are accepted and ignored, with the reason as a warning."""
    unprefixed: ClassVar[frozenset[str]] = frozenset()
    """Fields read as `SENTIMENT_<FIELD>` whatever the class's prefix (shared ones)."""

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except ValidationError as error:
            raise configuration_error(error, type(self), values) from None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, _Environment(settings_cls)

    @classmethod
    def variable(cls, field: str) -> str:
        """The variable that sets `field` (its current name)."""
        prefix = ENV_PREFIX if field in cls.unprefixed else cls.model_config.get("env_prefix")
        return f"{prefix}{field.upper()}"

    @classmethod
    def variable_as_set(cls, field: str, environ: Mapping[str, str] = os.environ) -> str:
        """The variable that set `field` in `environ`, spelled as there: the current
        name, else an old one; the current name when neither is set."""
        for name in (cls.variable(field), *(r.old for r in cls.renamed if field in r.fields)):
            found = name_as_set(name, environ)
            if found is not None:
                return found
        return cls.variable(field)

    @classmethod
    def variables(cls) -> Iterator[str]:
        """Every variable this class reads: current names, then renamed and retired ones."""
        for field, info in cls.model_fields.items():
            if not _is_settings(info.annotation):  # a nested class reads its own
                yield cls.variable(field)
        yield from (renamed.old for renamed in cls.renamed)
        yield from cls.retired

    @classmethod
    def replacements(cls) -> dict[str, str]:
        """Each renamed or retired variable and what replaces it, in words."""
        found = {
            r.old: " and ".join(cls.variable(field) for field in r.fields) for r in cls.renamed
        }
        return found | {old: f"nothing ({reason})" for old, reason in cls.retired.items()}


class ComponentSettings(EnvironmentSettings):
    """The base of each component's settings: the state directory and the log level."""

    unprefixed = frozenset({"state_dir", "log_level"})

    state_dir: Path = PROJECT_ROOT / ".state"
    """Local state of every component: MLflow store, model repository, Triton work folder,
    SQLite database, audit spool, drift reports, the local API key."""

    log_level: str = "INFO"
    """Python logging level: DEBUG, INFO, WARNING, ERROR or CRITICAL."""

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.strip().upper()
        if level not in LOG_LEVELS:
            raise ValueError(f"{value!r} is not a level; use one of {', '.join(LOG_LEVELS)}")
        return level


def _is_settings(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, EnvironmentSettings)


def configuration_error(
    error: ValidationError, settings_cls: type[EnvironmentSettings], given: Mapping[str, Any]
) -> ConfigurationError:
    """`error` as one line naming each bad setting: the variable as it was set, or the
    class and field when the value was passed in code (an override, a command-line flag)."""
    problems = []
    for problem in error.errors():
        message = problem["msg"].removeprefix("Value error, ")
        if not problem["loc"]:
            problems.append(message)
            continue
        field = str(problem["loc"][0])
        where = (
            f"{settings_cls.__name__}.{field}"
            if field in given
            else settings_cls.variable_as_set(field)
        )
        problems.append(f"{where}: {message}")
    noun = "setting" if len(problems) == 1 else "settings:"
    return ConfigurationError(f"invalid {noun} {'; '.join(problems)}")


class _Environment(EnvSettingsSource):
    """Our environment source: a field's current variable, else its renamed ones."""

    settings_cls: type[EnvironmentSettings]

    def __init__(self, settings_cls: type[BaseSettings]) -> None:
        super().__init__(settings_cls)
        self._warned: set[str] = set()

    def __call__(self) -> dict[str, Any]:
        for old, reason in self.settings_cls.retired.items():
            found = name_as_set(old, os.environ)
            if found is not None:
                _warn(f"{found} is ignored: {reason}")
        try:
            return super().__call__()
        except SettingsError as error:  # pydantic-settings wraps what the steps below raise
            if isinstance(error.__cause__, ConfigurationError):
                raise error.__cause__ from None
            raise

    def prepare_field_value(
        self, field_name: str, field: FieldInfo, value: Any, value_is_complex: bool
    ) -> Any:
        try:
            return super().prepare_field_value(field_name, field, value, value_is_complex)
        except ValueError as error:  # a list or mapping that is not valid JSON
            variable = self.settings_cls.variable_as_set(field_name)
            raise ConfigurationError(f"invalid setting {variable}: not JSON ({error})") from None

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        if _is_settings(field.annotation):
            return None, field_name, False  # a nested settings class reads its own variables
        cls = self.settings_cls
        value = self._raw(cls.variable(field_name))
        given_by: str | None = None
        for renamed in cls.renamed:
            found = name_as_set(renamed.old, os.environ)
            if field_name not in renamed.fields or found is None:
                continue
            self._warn_once(renamed, found)
            old_value = renamed.value_for(field_name, os.environ[found], found)
            if given_by is not None and old_value != value:
                raise ConfigurationError(
                    f"{given_by} and {found} disagree on {cls.variable(field_name)}: set that"
                )
            if value is None:
                value, given_by = old_value, found
        is_complex = self._extract_field_info(field, field_name)[-1][2]
        return value, field_name, is_complex

    def _raw(self, name: str) -> str | None:
        return self.env_vars.get(self._apply_case_sensitive(name))

    def _warn_once(self, renamed: Renamed, found: str) -> None:
        if found not in self._warned:
            self._warned.add(found)
            new = " and ".join(self.settings_cls.variable(field) for field in renamed.fields)
            _warn(f"{found} is deprecated and goes in the next release; use {new}")
