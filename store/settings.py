"""Where the database is: `SENTIMENT_DATABASE_URL`, else a SQLite file in the state dir.

The gateway (audit log, API keys, drift samples), the operator commands and the drift job
all open this one database; what each of them does with it is configured by its own
settings (`gateway.settings`, `monitoring.settings`).
"""

from __future__ import annotations

from pydantic import SecretStr
from pydantic_settings import SettingsConfigDict

from config.base import ComponentSettings


class DatabaseSettings(ComponentSettings):
    """The database of the service: one SQLAlchemy URL."""

    model_config = SettingsConfigDict(env_prefix="SENTIMENT_DATABASE_")

    url: SecretStr | None = None
    """SQLAlchemy URL, e.g. `postgresql+psycopg2://user:pw@host:5432/db`. Unset: SQLite file
    `<state_dir>/gateway.db`. Secret because it may carry a password."""

    migrate_on_start: bool = True
    """The gateway applies migrations when it starts (embedded and local runs). False where
    `sentiment db upgrade` runs as its own step as the tables' owner and the gateway
    connects with a role that cannot change the schema (ECS)."""

    def resolved_url(self) -> str:
        if self.url is not None:
            return self.url.get_secret_value()
        return f"sqlite:///{self.state_dir / 'gateway.db'}"
