"""`sentiment db upgrade --gateway-role ROLE --create-role {iam,password}` on the real
PostgreSQL: the role is created once (LOGIN), a second run changes nothing, an IAM role
joins the IAM group where it exists, a password role stores only a SCRAM verifier.

This PostgreSQL trusts local connections, so a login with the password is not checked
here; the stored verifier is checked against the password instead (as the server would).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from sentiment.cli.operator import db_upgrade
from store import make_engine
from store.roles import create_gateway_role, scram_sha256_verifier
from tests.postgres import admin_connect

PASSWORD_ENV = "SENTIMENT_DATABASE_GATEWAY_ROLE_PASSWORD"


@pytest.fixture
def role(postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A role name nobody has yet; the role (and what it was granted) is dropped after."""
    name = f"gateway_{secrets.token_hex(4)}"
    monkeypatch.setenv("SENTIMENT_DATABASE_URL", postgres_url)
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    yield name
    owner = make_engine(postgres_url)
    with owner.begin() as connection:
        if connection.execute(
            text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": name}
        ).first():
            connection.execute(text(f'DROP OWNED BY "{name}"'))
    owner.dispose()
    admin = admin_connect()
    with admin.cursor() as cursor:
        cursor.execute(f'DROP ROLE IF EXISTS "{name}"')
    admin.close()


@pytest.fixture
def owner(postgres_url: str) -> Iterator[Engine]:
    engine = make_engine(postgres_url)
    yield engine
    engine.dispose()


def upgrade(role: str, create: str | None) -> int:
    return db_upgrade(argparse.Namespace(gateway_role=role, create_role=create))


def role_row(role: str) -> Any:
    admin = admin_connect()  # the superuser: pg_authid (password verifiers) is readable
    with admin.cursor() as cursor:
        cursor.execute(
            "SELECT oid, rolcanlogin, rolpassword FROM pg_authid WHERE rolname = %s", (role,)
        )
        row = cursor.fetchone()
    admin.close()
    return row


def test_the_role_is_created_once_and_can_work(
    role: str, postgres_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert upgrade(role, "iam") == 0
    assert f"created role {role} (LOGIN)" in capsys.readouterr().out
    first = role_row(role)
    assert first is not None and first[1] is True and first[2] is None  # no password

    assert upgrade(role, "iam") == 0
    out = capsys.readouterr().out
    assert "created" not in out and "granted" not in out
    assert role_row(role) == first  # same role, unchanged

    engine = make_engine(make_url(postgres_url).set(username=role, password=None))
    with engine.begin() as connection:  # logs in, and has the gateway's rights
        connection.execute(text("SELECT count(*) FROM audit_records")).scalar_one()
    engine.dispose()


def test_an_iam_role_joins_the_iam_group_where_it_exists(role: str, owner: Engine) -> None:
    group = f"iam_group_{secrets.token_hex(4)}"  # stands in for RDS's rds_iam
    with owner.begin() as connection:
        connection.execute(text(f'CREATE ROLE "{group}" NOLOGIN'))
    try:
        assert create_gateway_role(owner, role, iam_group=group) == [
            f"created role {role} (LOGIN)",
            f"granted {group} to {role} (IAM authentication)",
        ]
        assert create_gateway_role(owner, role, iam_group=group) == []
        with owner.begin() as connection:
            member = connection.execute(
                text("SELECT pg_has_role(:role, :group, 'MEMBER')"), {"role": role, "group": group}
            ).scalar_one()
        assert member is True
        # Where no such group exists (this PostgreSQL has no rds_iam) nothing is granted.
        assert create_gateway_role(owner, role) == []
    finally:
        with owner.begin() as connection:
            connection.execute(text(f'DROP ROLE IF EXISTS "{role}"'))
            connection.execute(text(f'DROP ROLE "{group}"'))


def test_an_existing_role_without_login_gets_login(role: str, owner: Engine) -> None:
    with owner.begin() as connection:
        connection.execute(text(f'CREATE ROLE "{role}" NOLOGIN'))
    assert create_gateway_role(owner, role) == [f"role {role} may now log in"]
    assert role_row(role)[1] is True


def test_the_password_comes_from_the_environment_and_is_stored_as_a_verifier(
    role: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    password = secrets.token_urlsafe(24)
    monkeypatch.setenv(PASSWORD_ENV, password)
    assert upgrade(role, "password") == 0
    assert f"created role {role} (LOGIN)" in capsys.readouterr().out
    row = role_row(role)
    assert row[1] is True
    assert verifier_matches(row[2], password)
    assert password not in row[2]

    monkeypatch.setenv(PASSWORD_ENV, "another-password")  # a second run changes nothing
    assert upgrade(role, "password") == 0
    assert "created" not in capsys.readouterr().out
    assert role_row(role) == row


def test_the_password_option_without_a_password_stops_with_one_line(
    role: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert upgrade(role, "password") == 1
    assert PASSWORD_ENV in capsys.readouterr().err
    assert role_row(role) is None


def test_only_ascii_passwords_are_hashed() -> None:
    with pytest.raises(ValueError, match="ASCII"):
        scram_sha256_verifier("pässword")
    assert verifier_matches(scram_sha256_verifier("s3cret"), "s3cret")
    assert not verifier_matches(scram_sha256_verifier("s3cret"), "s3cre")


def verifier_matches(verifier: str, password: str) -> bool:
    """The server's check (RFC 5802): the stored key derived from the password and salt."""
    method, rest = verifier.split("$", 1)
    iterations_salt, keys = rest.split("$")
    iterations, salt = iterations_salt.split(":")
    stored_key = base64.b64decode(keys.split(":")[0])
    salted = hashlib.pbkdf2_hmac(
        "sha256", password.encode(), base64.b64decode(salt), int(iterations)
    )
    client_key = hmac.digest(salted, b"Client Key", "sha256")
    return method == "SCRAM-SHA-256" and hashlib.sha256(client_key).digest() == stored_key
