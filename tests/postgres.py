"""The machine's PostgreSQL for the gateway tests: where it is, a fresh database per test
session (the `postgres_url` fixture in conftest.py), and stopping/starting its cluster for
the outage tests (`pg_ctlcluster`, as the Debian packages install it)."""

from __future__ import annotations

import os
import shutil
import subprocess
from typing import Any

PG_HOST = os.environ.get("SENTIMENT_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("SENTIMENT_TEST_PG_PORT", "5432"))
PG_USER = os.environ.get("SENTIMENT_TEST_PG_USER", "postgres")
PG_CLUSTER = os.environ.get("SENTIMENT_TEST_PG_CLUSTER", "15/main").split("/")


def admin_connect() -> Any:
    """An autocommit connection to the `postgres` database."""
    import psycopg2

    connection = psycopg2.connect(
        host=PG_HOST, port=PG_PORT, user=PG_USER, dbname="postgres", connect_timeout=3
    )
    connection.autocommit = True
    return connection


def pg_ctl(action: str) -> None:
    """`start` or `stop` the cluster (`stop` waits for the fast shutdown to finish)."""
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", *PG_CLUSTER, action],
        check=True,
        timeout=60,
        capture_output=True,
    )


def pg_online() -> bool:
    result = subprocess.run(["pg_lsclusters", "-h"], capture_output=True, text=True)
    return any(
        line.split()[:2] == PG_CLUSTER and "online" in line for line in result.stdout.splitlines()
    )


def can_restart_postgres() -> bool:
    """True when this machine's cluster can be stopped and started by the tests."""
    return shutil.which("pg_ctlcluster") is not None and pg_online()
