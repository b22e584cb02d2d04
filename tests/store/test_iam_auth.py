"""IAM database authentication (`SENTIMENT_DATABASE_IAM_AUTH`): every new connection logs
in with a token signed by boto3's real `generate_db_auth_token`, and the settings refuse a
URL that would send the token without TLS.

boto3 signs locally, so dummy credentials suffice. The local PostgreSQL trusts the
connection whatever the password, so the login succeeds and the test reads the password
the engine handed to psycopg2.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import event, text
from sqlalchemy.engine import make_url

from config import ConfigurationError
from store import make_engine
from store.settings import DatabaseSettings


@pytest.fixture
def aws_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


def test_each_new_connection_logs_in_with_a_fresh_iam_token(
    postgres_url: str, aws_credentials: None
) -> None:
    url = make_url(postgres_url)
    engine = make_engine(postgres_url, iam_auth=True)
    passwords: list[str] = []

    @event.listens_for(engine, "do_connect")  # after the engine's own hook: what psycopg2 gets
    def capture(_dialect: Any, _record: Any, _cargs: Any, cparams: dict[str, Any]) -> None:
        passwords.append(cparams["password"])

    with engine.connect() as first, engine.connect() as second:  # two logins
        assert first.execute(text("SELECT current_user")).scalar_one() == url.username
        second.execute(text("SELECT 1"))
    engine.dispose()

    assert len(passwords) == 2
    for token in passwords:
        parts = urlsplit(f"https://{token}")
        query = parse_qs(parts.query)
        assert (parts.hostname, parts.port) == (url.host, url.port)
        assert query["Action"] == ["connect"] and query["DBUser"] == [url.username]
        assert query["X-Amz-Credential"][0].startswith("AKIAIOSFODNN7EXAMPLE/")
        assert "/eu-west-1/rds-db/aws4_request" in query["X-Amz-Credential"][0]
        assert query["X-Amz-Expires"] == ["900"] and query["X-Amz-Signature"]


def test_without_iam_auth_the_url_password_is_used(postgres_url: str) -> None:
    engine = make_engine(make_url(postgres_url).set(password="from-url").render_as_string(False))
    passwords: list[Any] = []
    event.listen(engine, "do_connect", lambda *args: passwords.append(args[3].get("password")))
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))
    engine.dispose()
    assert passwords == ["from-url"]


def test_iam_auth_needs_a_region(
    postgres_url: str, aws_credentials: None, monkeypatch: Any
) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.delenv("AWS_REGION", raising=False)
    with pytest.raises(ValueError, match="AWS_REGION"):
        make_engine(postgres_url, iam_auth=True)


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        (None, "PostgreSQL SENTIMENT_DATABASE_URL"),
        ("sqlite:///x.db", "PostgreSQL SENTIMENT_DATABASE_URL"),
        ("postgresql+psycopg2://db.example:5432/sentiment?sslmode=require", "user name"),
        ("postgresql+psycopg2://gw@db.example:5432/sentiment", "sslmode=require"),
        ("postgresql+psycopg2://gw@db.example/sentiment?sslmode=prefer", "sslmode=require"),
    ],
)
def test_iam_auth_settings_refuse_a_url_without_user_or_tls(
    url: str | None, problem: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SENTIMENT_DATABASE_IAM_AUTH", "true")
    if url is None:
        monkeypatch.delenv("SENTIMENT_DATABASE_URL", raising=False)
    else:
        monkeypatch.setenv("SENTIMENT_DATABASE_URL", url)
    with pytest.raises(ConfigurationError, match=problem):
        DatabaseSettings()


def test_iam_auth_settings_accept_rds_with_tls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENTIMENT_DATABASE_IAM_AUTH", "true")
    monkeypatch.setenv(
        "SENTIMENT_DATABASE_URL",
        "postgresql+psycopg2://gw@db.example:5432/sentiment?sslmode=require",
    )
    assert DatabaseSettings().iam_auth is True
