"""API keys on the database: issued once, stored as salted (and peppered) HMAC-SHA256.

A key reads `snt_<key_id>_<secret>`. `key_id` (12 hex characters) is public: it finds the
row and is what audit records name. The secret is 256 random bits; only
HMAC-SHA256(pepper, salt || secret) is stored, and it is compared in constant time.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import re
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine, select, update
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session

from gateway.core.contracts import Caller, KeyRevoked, KeyStoreUnavailable
from store.engine import as_utc
from store.models import ApiKey

log = logging.getLogger(__name__)

PREFIX = "snt_"
_TOKEN = re.compile(r"^snt_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class KeyNameError(ValueError):
    """The name is malformed, or an active key already has it."""


@dataclass(frozen=True)
class IssuedKey:
    """A new key: `token` is shown once and never stored."""

    key_id: str
    name: str
    token: str


@dataclass(frozen=True)
class KeyInfo:
    key_id: str
    name: str
    created_at: datetime
    revoked_at: datetime | None


_Row = tuple[str, str, str, bool]
"""(name, salt, secret_hash, revoked) of a stored key."""


@dataclass(frozen=True)
class _Entry:
    row: _Row | None  # the key's row, None when no key has this id
    fetched_at: float


class ApiKeyStore:
    """`KeyStore` for the gateway plus the operator's create / list / revoke.

    `authenticate` reuses a lookup for `cache_ttl_s` (so a revocation takes that long to
    bite) and, while the database is unreachable, up to `stale_ttl_s`: known clients keep
    working through a database outage, as their requests are audited via the spool.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        pepper: bytes = b"",
        cache_ttl_s: float = 5.0,
        stale_ttl_s: float = 600.0,
        cache_size: int = 10_000,
    ) -> None:
        self.engine = engine
        self._pepper = pepper
        self._cache_ttl_s = cache_ttl_s
        self._stale_ttl_s = stale_ttl_s
        self._cache_size = cache_size
        self._cache: OrderedDict[str, _Entry] = OrderedDict()

    def _digest(self, salt: str, secret: str) -> str:
        return hmac.new(
            self._pepper, bytes.fromhex(salt) + secret.encode(), hashlib.sha256
        ).hexdigest()

    # -- operator commands -------------------------------------------------------------

    def create(self, name: str) -> IssuedKey:
        """Issue a key named `name` (unique among active keys)."""
        if not _NAME.match(name):
            raise KeyNameError(f"invalid key name {name!r}: 1-64 of A-Z a-z 0-9 . _ -")
        key_id, secret, salt = (
            secrets.token_hex(6),
            secrets.token_urlsafe(32),
            secrets.token_hex(16),
        )
        row = ApiKey(
            key_id=key_id,
            name=name,
            salt=salt,
            secret_hash=self._digest(salt, secret),
            created_at=datetime.now(UTC),
            revoked_at=None,
        )
        try:
            with Session(self.engine) as session, session.begin():
                session.add(row)
        except sa_exc.IntegrityError as error:
            raise KeyNameError(f"an active key named {name!r} exists; revoke it first") from error
        return IssuedKey(key_id, name, f"{PREFIX}{key_id}_{secret}")

    def list_keys(self) -> list[KeyInfo]:
        """All keys, revoked ones included, oldest first."""
        with Session(self.engine) as session:
            rows = session.scalars(select(ApiKey).order_by(ApiKey.created_at, ApiKey.key_id))
            return [
                KeyInfo(
                    r.key_id,
                    r.name,
                    as_utc(r.created_at),
                    as_utc(r.revoked_at) if r.revoked_at else None,
                )
                for r in rows
            ]

    def revoke(self, name: str) -> list[str]:
        """Revoke the active key named `name`; returns the revoked key ids (empty: none)."""
        with Session(self.engine) as session, session.begin():
            revoked = session.scalars(
                update(ApiKey)
                .where(ApiKey.name == name, ApiKey.revoked_at.is_(None))
                .values(revoked_at=datetime.now(UTC))
                .returning(ApiKey.key_id)
            ).all()
        for key_id in revoked:
            self._cache.pop(key_id, None)
        return list(revoked)

    # -- authentication ----------------------------------------------------------------

    def _load(self, key_id: str) -> _Row | None:
        with Session(self.engine) as session:
            row = session.get(ApiKey, key_id)
            if row is None:
                return None
            return (row.name, row.salt, row.secret_hash, row.revoked_at is not None)

    def verify(self, token: str) -> Caller | None:
        """Blocking check of `token` against the database (no cache); KeyRevoked when an
        operator revoked it."""
        match = _TOKEN.match(token)
        if match is None:
            return None
        return self._check(match.group(1), match.group(2), self._load(match.group(1)))

    def _check(self, key_id: str, secret: str, row: _Row | None) -> Caller | None:
        if row is None:
            return None
        name, salt, stored, revoked = row
        if not hmac.compare_digest(self._digest(salt, secret), stored):
            return None
        if revoked:  # only a caller holding the real secret learns that it was revoked
            raise KeyRevoked(f"API key {key_id} ({name}) was revoked")
        return Caller(key_id=key_id, name=name)

    async def authenticate(self, token: str) -> Caller | None:
        """The caller owning `token`, None if unknown, KeyRevoked if revoked;
        KeyStoreUnavailable when the database is down and the key was not seen within
        `stale_ttl_s`."""
        match = _TOKEN.match(token)
        if match is None:
            return None
        key_id, secret = match.group(1), match.group(2)
        now = time.monotonic()
        entry = self._cache.get(key_id)
        if entry is None or now - entry.fetched_at > self._cache_ttl_s:
            try:
                row = await asyncio.to_thread(self._load, key_id)
            except sa_exc.SQLAlchemyError as error:
                if entry is None or now - entry.fetched_at > self._stale_ttl_s:
                    raise KeyStoreUnavailable("API key database unreachable") from error
                log.warning("key database unreachable; using the cached lookup of %s", key_id)
            else:
                entry = _Entry(row, time.monotonic())
                self._remember(key_id, entry)
        return self._check(key_id, secret, entry.row)

    def _remember(self, key_id: str, entry: _Entry) -> None:
        self._cache[key_id] = entry
        self._cache.move_to_end(key_id)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
