"""Where the database is: `SENTIMENT_DATABASE_URL`, else a SQLite file in the state dir.

The gateway (audit log, API keys, drift samples), the operator commands and the drift job
all open this one database; what each of them does with it is configured by its own
settings (`gateway.settings`, `monitoring.settings`).
"""

from __future__ import annotations

from pydantic import SecretStr, model_validator
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

    iam_auth: bool = False
    """Log in with an RDS IAM token instead of a password: a fresh token (valid 15 min)
    is signed with the process's AWS credentials for each new connection, so there is no
    password to store or rotate. Needs a PostgreSQL URL with a user, no password and
    `sslmode=require` or stricter; the region is the AWS SDK's (`AWS_REGION`)."""

    gateway_role_password: SecretStr | None = None
    """Password that `sentiment db upgrade --create-role password` gives the gateway's role
    when it creates it (read here, never from the command line). Unused otherwise."""

    @model_validator(mode="after")
    def _iam_auth_needs_tls(self) -> DatabaseSettings:
        if self.iam_auth:
            from sqlalchemy.engine import make_url

            url = make_url(self.url.get_secret_value()) if self.url else None
            if url is None or url.get_backend_name() != "postgresql" or not url.username:
                raise ValueError(
                    "SENTIMENT_DATABASE_IAM_AUTH needs a PostgreSQL SENTIMENT_DATABASE_URL "
                    "with a user name (RDS)"
                )
            if url.query.get("sslmode") not in ("require", "verify-ca", "verify-full"):
                raise ValueError(
                    "SENTIMENT_DATABASE_IAM_AUTH sends a token as the password: add "
                    "?sslmode=require (or verify-full) to SENTIMENT_DATABASE_URL"
                )
        return self

    def resolved_url(self) -> str:
        if self.url is not None:
            return self.url.get_secret_value()
        return f"sqlite:///{self.state_dir / 'gateway.db'}"
