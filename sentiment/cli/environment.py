"""The unknown-variable check that every `sentiment` command runs first.

pydantic-settings ignores a variable that no field reads, so a typo in
`SENTIMENT_GATEWAY_PORT` would leave the gateway on its default port without a word. Known
variables are those of every settings class (current, renamed and retired names, taken from
the classes themselves) and the few read outside them (`OUTSIDE_SETTINGS`). Names match
regardless of case, as the settings classes read them.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping

from config.base import ENV_PREFIX, EnvironmentSettings
from config.errors import ConfigurationError
from sentiment.cli.gateway import API_KEY_ENV

OUTSIDE_SETTINGS = {
    API_KEY_ENV: "the caller's API key for `sentiment predict` (a client, not the service)",
    **{
        f"SENTIMENT_DB_{part}": "gateway image entry point: database URL part, when "
        "SENTIMENT_DATABASE_URL is unset (infra/docker/gateway_entrypoint.py)"
        for part in ("HOST", "PORT", "USER", "PASSWORD", "NAME", "SSLMODE")
    },
    "SENTIMENT_HEALTHCHECK_CA_FILE": "gateway image health check: CA that verifies TLS",
    "SENTIMENT_HEALTHCHECK_TLS_NAME": "gateway image health check: TLS name to expect",
    "SENTIMENT_ORT_THREADS": "Triton's CPU onnxruntime backend: threads per model instance",
    "SENTIMENT_TORCH_THREADS": "Triton's CPU pytorch backend: threads per model instance",
    **{
        f"SENTIMENT_TEST_PG_{part}": "test suite: the PostgreSQL cluster it may stop and start"
        for part in ("HOST", "PORT", "USER", "CLUSTER")
    },
}
"""Variables read by code that cannot use a settings class: the client, the image's
scripts, Triton's backends (they run inside Triton), the tests. A test greps for them."""


def settings_classes() -> tuple[type[EnvironmentSettings], ...]:
    """Every settings class of the service (imported here, when a command starts)."""
    from config.settings import PipelineSettings
    from config.triton import TritonSettings
    from gateway.settings import ApiKeySettings, AuditSettings, GatewaySettings
    from monitoring.settings import DriftSettings
    from retention.settings import RetentionSettings
    from store.settings import DatabaseSettings

    return (
        PipelineSettings,
        TritonSettings,
        DatabaseSettings,
        GatewaySettings,
        AuditSettings,
        ApiKeySettings,
        DriftSettings,
        RetentionSettings,
    )


def known_variables() -> set[str]:
    """Every `SENTIMENT_*` name a part of the service reads, old names included."""
    known = set(OUTSIDE_SETTINGS)
    for settings in settings_classes():
        known.update(settings.variables())
    return known


def deprecated_variables() -> dict[str, str]:
    """Each renamed or retired variable and what replaces it, in words."""
    replaced: dict[str, str] = {}
    for settings in settings_classes():
        replaced.update(settings.replacements())
    return replaced


def check_environment(environ: Mapping[str, str] = os.environ) -> None:
    """Raise ConfigurationError naming each unknown `SENTIMENT_*` variable (as it was set)
    with the closest known name."""
    known = known_variables()
    problems = []
    for name in sorted(environ):
        upper = name.upper()
        if not upper.startswith(ENV_PREFIX) or upper in known:
            continue
        closest = difflib.get_close_matches(upper, sorted(known), n=1, cutoff=0.6)
        hint = f" (did you mean {closest[0]}?)" if closest else ""
        problems.append(f"unknown variable {name}{hint}")
    if problems:
        raise ConfigurationError("; ".join(problems))
