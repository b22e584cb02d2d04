"""Operator commands: `db upgrade`, `keys create|list|revoke` and `audit ID...`.

`add_commands(subparsers)` adds them to the `sentiment` command. Each handler applies the
database migrations first, so the commands work on a fresh database too.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from store.settings import DatabaseSettings

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from gateway.persistence.keys import ApiKeyStore


def add_commands(subparsers: Any) -> None:
    """Add `keys` and `audit` to an argparse subparsers object (handlers in `handler`)."""
    keys = subparsers.add_parser("keys", help="manage API keys of the gateway")
    actions = keys.add_subparsers(dest="keys_command", required=True)
    create = actions.add_parser("create", help="issue a key (printed once, stored hashed)")
    create.add_argument("name", help="who the key is for (unique among active keys)")
    create.set_defaults(handler=keys_create)
    listing = actions.add_parser("list", help="list keys (never the keys themselves)")
    listing.add_argument("--json", action="store_true", help="JSON lines instead of a table")
    listing.set_defaults(handler=keys_list)
    revoke = actions.add_parser("revoke", help="revoke the active key with this name")
    revoke.add_argument("name")
    revoke.set_defaults(handler=keys_revoke)

    audit = subparsers.add_parser("audit", help="print stored audit records as JSON lines")
    audit.add_argument(
        "ids", nargs="+", metavar="ID", help="an audit id, or a request id (all its attempts)"
    )
    audit.set_defaults(handler=audit_show)

    db = subparsers.add_parser("db", help="the database's schema and the gateway's rights")
    db_actions = db.add_subparsers(dest="db_command", required=True)
    upgrade = db_actions.add_parser(
        "upgrade",
        help="apply migrations as the tables' owner (a one-off step before gateways start)",
    )
    upgrade.add_argument(
        "--gateway-role",
        metavar="ROLE",
        help="PostgreSQL role the gateway connects as: may insert and read audit records "
        "and drift samples and read API keys, nothing else",
    )
    upgrade.add_argument(
        "--create-role",
        choices=("iam", "password"),
        metavar="{iam,password}",
        help="create the gateway role (LOGIN) when it is missing: iam logs in with IAM "
        "tokens (granted rds_iam on RDS), password with SENTIMENT_DATABASE_GATEWAY_ROLE_PASSWORD",
    )
    upgrade.set_defaults(handler=db_upgrade)


@contextlib.contextmanager
def database(settings: DatabaseSettings | None = None) -> Iterator[Engine]:
    """The configured database, migrated to head; its connections closed afterwards."""
    from store import make_engine, upgrade_database

    settings = settings or DatabaseSettings()
    engine = make_engine(settings.resolved_url(), pool_size=1, iam_auth=settings.iam_auth)
    try:
        upgrade_database(engine)
        yield engine
    finally:
        engine.dispose()


@contextlib.contextmanager
def _key_store() -> Iterator[ApiKeyStore]:
    from gateway.persistence.keys import ApiKeyStore
    from gateway.settings import ApiKeySettings

    pepper = ApiKeySettings().pepper_bytes()
    with database() as engine:
        yield ApiKeyStore(engine, pepper=pepper)


def keys_create(args: argparse.Namespace, _settings: object = None) -> int:
    from gateway.persistence.keys import KeyNameError

    try:
        with _key_store() as store:
            issued = store.create(args.name)
    except KeyNameError as error:
        print(f"sentiment keys create: {error}", file=sys.stderr)
        return 1
    print(issued.token)
    print(
        f"key id {issued.key_id} for {issued.name!r}: shown once, store it now; "
        f"send it as 'authorization: Bearer <key>'",
        file=sys.stderr,
    )
    return 0


def keys_list(args: argparse.Namespace, _settings: object = None) -> int:
    with _key_store() as store:
        keys = store.list_keys()
    if getattr(args, "json", False):
        for key in keys:
            revoked = key.revoked_at.isoformat() if key.revoked_at else None
            print(
                json.dumps(
                    {
                        "key_id": key.key_id,
                        "name": key.name,
                        "created_at": key.created_at.isoformat(),
                        "revoked_at": revoked,
                    }
                )
            )
        return 0
    print(f"{'KEY ID':<14}{'NAME':<24}{'CREATED':<27}REVOKED")
    for key in keys:
        revoked = key.revoked_at.isoformat(timespec="seconds") if key.revoked_at else "-"
        created = key.created_at.isoformat(timespec="seconds")
        print(f"{key.key_id:<14}{key.name:<24}{created:<27}{revoked}")
    return 0


def keys_revoke(args: argparse.Namespace, _settings: object = None) -> int:
    with _key_store() as store:
        revoked = store.revoke(args.name)
    if not revoked:
        print(f"sentiment keys revoke: no active key named {args.name!r}", file=sys.stderr)
        return 1
    print(f"revoked {args.name!r} (key id {', '.join(revoked)})")
    return 0


def audit_show(args: argparse.Namespace, _settings: object = None) -> int:
    """One JSON line per stored attempt, oldest first; exit 1 when an id matches none.

    Each id may be an audit id (one attempt) or a request id (every attempt that
    carried it, refusals and retries included).
    """
    from gateway.persistence.audit import AuditStore, row_to_json
    from gateway.settings import AuditSettings

    dead_letter = AuditSettings().resolved_spool_dir() / "dead-letter.jsonl"
    with database() as engine:
        rows = AuditStore(engine, dead_letter).fetch(args.ids)
    for row in rows:
        print(json.dumps(row_to_json(row), ensure_ascii=False))
    found = {row.audit_id for row in rows} | {row.request_id for row in rows}
    missing = [wanted for wanted in args.ids if wanted not in found]
    for wanted in missing:
        print(f"sentiment audit: no stored record for {wanted!r}", file=sys.stderr)
    return 1 if missing else 0


def db_upgrade(args: argparse.Namespace, _settings: object = None) -> int:
    from store import current_revision
    from store.roles import create_gateway_role, grant_gateway_role

    settings = DatabaseSettings()
    create = getattr(args, "create_role", None)
    password = settings.gateway_role_password
    if create and not args.gateway_role:
        print("sentiment db upgrade: --create-role needs --gateway-role ROLE", file=sys.stderr)
        return 1
    if create == "password" and password is None:
        print(
            "sentiment db upgrade: --create-role password reads the password from "
            "SENTIMENT_DATABASE_GATEWAY_ROLE_PASSWORD, which is unset",
            file=sys.stderr,
        )
        return 1
    changes: list[str] = []
    try:
        with database(settings) as engine:
            if create:
                secret = password.get_secret_value() if create == "password" and password else None
                changes = create_gateway_role(engine, args.gateway_role, password=secret)
            if args.gateway_role:
                grant_gateway_role(engine, args.gateway_role)
            revision = current_revision(engine)
    except ValueError as error:  # a bad role name, a missing role, an unusable password
        print(f"sentiment db upgrade: {error}", file=sys.stderr)
        return 1
    print(f"database at revision {revision}")
    for change in changes:
        print(change)
    if args.gateway_role:
        rights = "insert and read audit records and drift samples, read API keys"
        print(f"role {args.gateway_role}: {rights}")
    return 0
