from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import Engine

from gateway.core.contracts import KeyRevoked
from gateway.persistence.audit import SpooledAuditLog
from gateway.persistence.keys import ApiKeyStore
from sentiment.cli.operator import add_commands
from tests.gateway.persistence.persistence_helpers import make_record, run


def sentiment(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="sentiment")
    add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    code: int = args.handler(args, None)
    return code


@pytest.fixture
def environment(
    engine: Engine, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Engine:
    monkeypatch.setenv("SENTIMENT_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("SENTIMENT_DATABASE_URL", database_url)
    monkeypatch.setenv("SENTIMENT_API_KEY_PEPPER", "cli-pepper")
    return engine


def test_keys_commands(environment: Engine, capsys: pytest.CaptureFixture[str]) -> None:
    assert sentiment(["keys", "create", "ops"]) == 0
    token = capsys.readouterr().out.strip()
    caller = ApiKeyStore(environment, pepper=b"cli-pepper").verify(token)
    assert caller is not None and caller.name == "ops"

    assert sentiment(["keys", "create", "ops"]) == 1
    assert "active key" in capsys.readouterr().err

    assert sentiment(["keys", "list", "--json"]) == 0
    (listed,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert listed["name"] == "ops" and listed["key_id"] == caller.key_id
    assert listed["revoked_at"] is None and token not in json.dumps(listed)

    assert sentiment(["keys", "revoke", "ops"]) == 0
    assert sentiment(["keys", "revoke", "ops"]) == 1
    assert sentiment(["keys", "list"]) == 0
    table = capsys.readouterr().out
    assert caller.key_id in table and token not in table
    with pytest.raises(KeyRevoked):
        ApiKeyStore(environment, pepper=b"cli-pepper").verify(token)


def test_audit_command_prints_every_attempt_in_time_order(
    environment: Engine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    refused = replace(
        make_record("a-1"),
        audit_id="attempt-1",
        status="INVALID_ARGUMENT",
        error="text: must not be empty",
        predictions=[],
    )
    other = make_record("a-2")
    answered = replace(make_record("a-1"), audit_id="attempt-2")  # the retry, received last

    async def store() -> None:
        log = await SpooledAuditLog.open(environment, tmp_path / "spool")
        for record in (answered, other, refused):  # spooled in any order
            await log.append(record)
        assert await log.close()

    run(store())
    assert sentiment(["audit", "a-2", "a-1"]) == 0  # by request id: every attempt
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(line["request_id"], line["audit_id"]) for line in lines] == [
        ("a-1", "attempt-1"),
        ("a-2", "audit-a-2"),
        ("a-1", "attempt-2"),
    ]
    assert lines[0]["status"] == "INVALID_ARGUMENT" and lines[0]["predictions"] == []
    assert lines[2]["status"] == "OK" and lines[2]["predictions"][0]["label"] == "positive"

    assert sentiment(["audit", "attempt-2"]) == 0  # by audit id: that attempt
    (line,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert line["audit_id"] == "attempt-2"

    assert sentiment(["audit", "a-2", "missing"]) == 1
    captured = capsys.readouterr()
    assert len(captured.out.splitlines()) == 1 and "missing" in captured.err
