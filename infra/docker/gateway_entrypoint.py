#!/usr/bin/env python3
"""Entry point of the gateway image (and of `sentiment ARGS` in the pipeline image, as
`sentiment-entrypoint`): `sentiment ARGS...`, with the database URL assembled.

On ECS the database password comes from the RDS-managed Secrets Manager secret as its own
variable; `SENTIMENT_DATABASE_URL` needs it inside a URL. When that URL is unset and
SENTIMENT_DB_HOST, SENTIMENT_DB_USER and SENTIMENT_DB_PASSWORD are set, this builds
`postgresql+psycopg2://user:password@host:port/name?sslmode=require` (password URL-quoted)
and then replaces itself with `sentiment`. With SENTIMENT_DATABASE_IAM_AUTH true the URL
has no password (the engine logs in with IAM tokens) and none is needed. Nothing is
printed: the URL holds a secret.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from urllib.parse import quote

# The venv's console script, next to this interpreter (no PATH lookup).
SENTIMENT = str(Path(sys.executable).with_name("sentiment"))


def database_url(env: dict[str, str]) -> str | None:
    host, user, password = (env.get(f"SENTIMENT_DB_{k}") for k in ("HOST", "USER", "PASSWORD"))
    # With IAM authentication the engine signs a token for each connection: no password.
    iam = env.get("SENTIMENT_DATABASE_IAM_AUTH", "").strip().lower() in ("1", "true", "yes", "on")
    if not (host and user and (password or iam)):
        return None
    port = env.get("SENTIMENT_DB_PORT", "5432")
    name = env.get("SENTIMENT_DB_NAME", "sentiment")
    sslmode = env.get("SENTIMENT_DB_SSLMODE", "require")
    credentials = quote(user, safe="")
    if password and not iam:
        credentials += f":{quote(password, safe='')}"
    return f"postgresql+psycopg2://{credentials}@{host}:{port}/{name}?sslmode={sslmode}"


def main() -> None:
    env = dict(os.environ)
    if not env.get("SENTIMENT_DATABASE_URL"):
        url = database_url(env)
        if url is not None:
            os.environ["SENTIMENT_DATABASE_URL"] = url
    os.environ.pop("SENTIMENT_DB_PASSWORD", None)
    # Replace this process (no child) so `sentiment` receives SIGTERM directly; arguments
    # are passed as a list, never through a shell.
    os.execv(SENTIMENT, [SENTIMENT, *sys.argv[1:]])  # nosec B606


if __name__ == "__main__":
    main()
