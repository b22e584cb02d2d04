"""API keys: issued once, stored as salted (and peppered) HMAC-SHA256, checked in memory.

A key reads `snt_<key_id>_<secret>`. `key_id` (12 hex characters) is public: it finds the
row and is what audit records name. The secret is 256 random bits; only
HMAC-SHA256(pepper, salt || secret) is stored, and it is compared in constant time.

The gateway checks keys against the whole key table held in memory (ids, names, salts,
hashes, revocations: never a secret), so a call never waits on the database for a known key:

- `start()` loads the table (waiting at most `start_timeout_s`), then a background task
  reloads it every `refresh_interval_s`: a key revoked by another process (the CLI) is
  refused within one interval, one revoked through this store at once. Revocation is
  final: a reload never makes a key the previous table had revoked valid again.
- A key id missing from the table waits (at most `lookup_timeout_s`) for a reload that
  starts after the call arrived, so a key created a moment ago works at once. Reloads are
  coalesced and never start less than `min_reload_interval_s` apart, whatever asks for
  them: a flood of made-up ids costs the database one query a second and evicts nothing.
  When no reload answers in time the call gets KeyStoreUnavailable (the key may exist).
- After each reload that changed the table, and at least every `SNAPSHOT_CONFIRM_S`, the
  table goes to a local snapshot (temporary file, fsync, rename; mode 0600). A gateway
  that starts while the database is unreachable authenticates from it; the first reload
  the database answers takes over.
- While reloads fail, the table is trusted until it is `stale_ttl_s` old, counted from the
  last load the database answered (for a snapshot: the load it was written after); older,
  every call gets KeyStoreUnavailable, as it does while no table was loaded at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import math
import re
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, select, text, update
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session

from gateway.core.contracts import Caller, KeyRevoked, KeyStoreUnavailable
from gateway.persistence.key_snapshot import KeyRow, read_snapshot, write_snapshot
from store.engine import as_utc
from store.models import ApiKey

log = logging.getLogger(__name__)

PREFIX = "snt_"
_TOKEN = re.compile(r"^snt_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")

SNAPSHOT_CONFIRM_S = 60.0
"""An unchanged table is still rewritten this often, so that a snapshot's time says when
the database last confirmed it (a gateway starting from it counts its age from there)."""

# What an unreachable or hung database raises out of a load (psycopg2 wraps socket errors).
_DATABASE_ERRORS = (sa_exc.SQLAlchemyError, OSError)


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


@dataclass(frozen=True)
class _KeyTable:
    rows: Mapping[str, KeyRow]
    confirmed_at: float
    """time.time() when the database load this table comes from began."""
    confirmed_mono: float
    """The same moment on time.monotonic() (the table's age is measured on it)."""
    from_snapshot: bool


class ApiKeyStore:
    """`KeyStore` for the gateway (see the module's docstring) plus the operator's
    create / list / revoke, which go to the database directly.

    Readings for metrics: `refresh_failures`, `snapshot_write_failures`,
    `unknown_key_ids` (counters), `table_age_s`, `from_snapshot` and `database_ok`
    (gauges).
    """

    def __init__(
        self,
        engine: Engine,
        *,
        pepper: bytes = b"",
        refresh_interval_s: float = 5.0,
        stale_ttl_s: float = 600.0,
        snapshot_file: Path | None = None,
        min_reload_interval_s: float = 1.0,
        lookup_timeout_s: float = 2.0,
        start_timeout_s: float = 2.0,
    ) -> None:
        """`snapshot_file` None: no snapshot is read or written. `cache_ttl_s` is the
        refresh interval's name before the key table (kept for one release)."""
        self.engine = engine
        self._pepper = pepper
        self._refresh_interval_s = refresh_interval_s
        self._stale_ttl_s = stale_ttl_s
        self._snapshot_file = snapshot_file
        self._min_reload_interval_s = min_reload_interval_s
        self._lookup_timeout_s = lookup_timeout_s
        self._start_timeout_s = start_timeout_s

        # Replaced whole, never mutated, under the lock: reloads run in worker threads, and
        # create/revoke may be called off the loop.
        self._table: _KeyTable | None = None
        self._table_lock = threading.Lock()
        self._healthy = False
        """The last reload that finished was answered by the database."""
        self._snapshot_rows: Mapping[str, KeyRow] | None = None
        self._snapshot_mono = -math.inf

        # Created inside the running loop by start() and the reloads.
        self._start_task: asyncio.Task[None] | None = None
        self._refresher: asyncio.Task[None] | None = None
        self._reload_task: asyncio.Task[None] | None = None
        self._next_reload: asyncio.Future[None] | None = None
        self._last_reload_start = -math.inf
        self._last_failure_end = -math.inf
        self._loading_since: float | None = None
        self._closed = False

        self.refresh_failures = 0
        """Loads of the key table that failed (database unreachable, hung or refusing)."""
        self.snapshot_write_failures = 0
        """Snapshots that could not be written (the table in memory is unaffected)."""
        self.unknown_key_ids = 0
        """Well-formed keys whose id the loaded table lacked (each asks for a reload)."""

    @property
    def table_age_s(self) -> float:
        """Seconds since the database last confirmed the table in use (inf: none loaded)."""
        table = self._table
        return math.inf if table is None else max(0.0, time.monotonic() - table.confirmed_mono)

    @property
    def database_ok(self) -> bool:
        """The last reload was answered by the database and none is overdue now."""
        return self._database_answers(time.monotonic())

    @property
    def from_snapshot(self) -> bool:
        """The table in use was read from the snapshot: no load answered since start."""
        table = self._table
        return table is not None and table.from_snapshot

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
        digest = self._digest(salt, secret)
        row = ApiKey(
            key_id=key_id,
            name=name,
            salt=salt,
            secret_hash=digest,
            created_at=datetime.now(UTC),
            revoked_at=None,
        )
        try:
            with Session(self.engine) as session, session.begin():
                session.add(row)
        except sa_exc.IntegrityError as error:
            raise KeyNameError(f"an active key named {name!r} exists; revoke it first") from error
        with self._table_lock:
            if self._table is not None:
                rows = {**self._table.rows, key_id: KeyRow(name, salt, digest, False)}
                self._table = replace(self._table, rows=rows)
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
        with self._table_lock:
            if self._table is not None and revoked:
                rows = dict(self._table.rows)
                for key_id in set(revoked) & rows.keys():
                    rows[key_id] = rows[key_id]._replace(revoked=True)
                self._table = replace(self._table, rows=rows)
        return list(revoked)

    def verify(self, token: str) -> Caller | None:
        """Blocking check of `token` against the database (no table); KeyRevoked when an
        operator revoked it."""
        match = _TOKEN.match(token)
        if match is None:
            return None
        with Session(self.engine) as session:
            found = session.get(ApiKey, match.group(1))
            row = None
            if found is not None:
                revoked = found.revoked_at is not None
                row = KeyRow(found.name, found.salt, found.secret_hash, revoked)
        return self._check(match.group(1), match.group(2), row)

    def _check(self, key_id: str, secret: str, row: KeyRow | None) -> Caller | None:
        if row is None:
            return None
        if not hmac.compare_digest(self._digest(row.salt, secret), row.secret_hash):
            return None
        if row.revoked:  # only a caller holding the real secret learns that it was revoked
            raise KeyRevoked(f"API key {key_id} ({row.name}) was revoked")
        return Caller(key_id=key_id, name=row.name)

    # -- authentication ----------------------------------------------------------------

    async def authenticate(self, token: str) -> Caller | None:
        """The caller owning `token`, None if unknown, KeyRevoked if revoked;
        KeyStoreUnavailable when the table cannot be trusted or a missing id could not be
        looked up in time. Starts the store if nobody did."""
        match = _TOKEN.match(token)
        if match is None:
            return None
        if self._closed:
            raise KeyStoreUnavailable("API key store closed")
        if self._start_task is None or not self._start_task.done():
            await self.start()
        key_id, secret = match.group(1), match.group(2)
        table = self._table
        if table is None or key_id not in table.rows:
            if table is not None:
                self.unknown_key_ids += 1
            await self._reload_for_missing_id()
        table = self._trusted_table()
        return self._check(key_id, secret, table.rows.get(key_id))

    def _trusted_table(self) -> _KeyTable:
        table = self._table
        if table is None:
            raise KeyStoreUnavailable("API key table not loaded: database and snapshot missing")
        now = time.monotonic()
        if not self._database_answers(now) and now - table.confirmed_mono > self._stale_ttl_s:
            raise KeyStoreUnavailable(
                f"API key table older than {self._stale_ttl_s:g} s and the database unreachable"
            )
        return table

    def _database_answers(self, now: float) -> bool:
        """The last reload succeeded and the one running (if any) is not overdue."""
        running = self._loading_since
        return self._healthy and (running is None or now - running <= self._lookup_timeout_s)

    async def _reload_for_missing_id(self) -> None:
        now = time.monotonic()
        if not self._database_answers(now) and (
            now - self._last_failure_end < self._min_reload_interval_s
            or self._loading_since is not None
        ):  # an outage: calls do not each wait for the next reload to fail
            raise KeyStoreUnavailable("API key database unreachable")
        try:
            await asyncio.wait_for(asyncio.shield(self._reload()), self._lookup_timeout_s)
        except TimeoutError as error:
            raise KeyStoreUnavailable("API key database did not answer in time") from error
        except _DATABASE_ERRORS as error:
            raise KeyStoreUnavailable("API key database unreachable") from error

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        """Load the table: from the database, waiting at most `start_timeout_s`, else from
        the snapshot; then reload it in the background. Never fails for an unreachable
        database (calls get KeyStoreUnavailable while no table is loaded). Idempotent."""
        if self._start_task is None:
            self._start_task = asyncio.create_task(self._first_load())
        if not self._start_task.done():
            await asyncio.shield(self._start_task)

    async def close(self) -> None:
        """Stop the background reloads (a load already running ends in its thread)."""
        self._closed = True
        tasks = [t for t in (self._start_task, self._refresher, self._reload_task) if t]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _first_load(self) -> None:
        try:
            await asyncio.wait_for(asyncio.shield(self._reload()), self._start_timeout_s)
        except (TimeoutError, *_DATABASE_ERRORS):
            # The load may still finish (a slow database) and then replaces the snapshot.
            if self._snapshot_file is not None:
                await asyncio.to_thread(self._load_snapshot, self._snapshot_file)
        self._refresher = asyncio.create_task(self._refresh_forever())
        self._refresher.add_done_callback(self._refresher_ended)

    async def _refresh_forever(self) -> None:
        while True:
            await asyncio.sleep(self._refresh_interval_s)
            with contextlib.suppress(*_DATABASE_ERRORS):  # counted and logged by _reload
                await self._reload()

    def _refresher_ended(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled():
            log.error("API key refresh stopped: %r; the table ages out", task.exception())
            self._healthy = False

    # -- reloads -----------------------------------------------------------------------

    def _reload(self) -> asyncio.Future[None]:
        """A reload that starts no earlier than now: the one waiting to start if there is
        one, else a new one, which waits for the running one and the minimum interval."""
        if self._next_reload is None or self._next_reload.done():
            done = asyncio.get_running_loop().create_future()
            done.add_done_callback(_retrieve)  # callers may have stopped waiting
            self._next_reload = done
            self._reload_task = asyncio.create_task(self._reload_after(self._reload_task, done))
        return self._next_reload

    async def _reload_after(
        self, previous: asyncio.Task[None] | None, done: asyncio.Future[None]
    ) -> None:
        try:
            if previous is not None and not previous.done():
                await asyncio.wait({previous})
            delay = self._last_reload_start + self._min_reload_interval_s - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            self._next_reload = None  # a call arriving from now on needs a later reload
            self._last_reload_start = self._loading_since = time.monotonic()
            try:
                await asyncio.to_thread(self._load_from_database)
            finally:
                self._loading_since = None
        except asyncio.CancelledError:
            done.cancel()
            raise
        except Exception as error:
            self._last_failure_end = time.monotonic()
            self.refresh_failures += 1
            if not isinstance(error, _DATABASE_ERRORS):
                log.exception("API key table reload failed")
            elif self._healthy or self.refresh_failures == 1:
                log.warning("API key database unreachable (%s); using the table in memory", error)
            self._healthy = False
            done.set_exception(error)
        else:
            if not self._healthy and self.refresh_failures:
                log.info("API key database reachable again; key table reloaded")
            self._healthy = True
            done.set_result(None)

    def _load_from_database(self) -> None:
        """Read every key, install the table, save the snapshot: in a worker thread, in one
        go (a job that has started is not cancelled with the task awaiting it)."""
        confirmed_at, confirmed_mono = time.time(), time.monotonic()
        timeout_ms = str(max(1, int(self._lookup_timeout_s * 1000)))
        with self.engine.connect() as connection, connection.begin():
            if connection.dialect.name == "postgresql":  # a hung statement must end too
                connection.execute(
                    text("SELECT set_config('statement_timeout', :ms, true)"), {"ms": timeout_ms}
                )
            result = connection.execute(
                select(
                    ApiKey.key_id, ApiKey.name, ApiKey.salt, ApiKey.secret_hash, ApiKey.revoked_at
                )
            )
            rows = {r[0]: KeyRow(r[1], r[2], r[3], r[4] is not None) for r in result}
        with self._table_lock:
            previous = self._table
            if previous is not None:  # revocation is final, even against a stale replica
                for key_id in previous.rows.keys() & rows.keys():
                    if previous.rows[key_id].revoked:
                        rows[key_id] = rows[key_id]._replace(revoked=True)
            table = _KeyTable(rows, confirmed_at, confirmed_mono, from_snapshot=False)
            self._table = table
        self._save_snapshot(table)

    # -- snapshot ----------------------------------------------------------------------

    def _save_snapshot(self, table: _KeyTable) -> None:
        if self._snapshot_file is None:
            return
        age = table.confirmed_mono - self._snapshot_mono
        if table.rows == self._snapshot_rows and age < SNAPSHOT_CONFIRM_S:
            return
        try:
            write_snapshot(self._snapshot_file, table.rows, table.confirmed_at)
        except OSError as error:
            self.snapshot_write_failures += 1
            log.warning("cannot write the API key snapshot %s: %s", self._snapshot_file, error)
        else:
            self._snapshot_rows, self._snapshot_mono = table.rows, table.confirmed_mono

    def _load_snapshot(self, path: Path) -> None:
        try:
            rows, confirmed_at = read_snapshot(path)
        except FileNotFoundError:
            log.error("API key database unreachable and no snapshot at %s", path)
            return
        except (OSError, ValueError) as error:
            log.error("API key database unreachable and snapshot %s unusable: %s", path, error)
            return
        age = max(0.0, time.time() - confirmed_at)
        table = _KeyTable(rows, confirmed_at, time.monotonic() - age, from_snapshot=True)
        with self._table_lock:
            if self._table is not None:  # the database answered meanwhile
                return
            self._table = table
        self._healthy = False
        log.warning("API key database unreachable; authenticating from %s (%.0f s old)", path, age)


def _retrieve(future: asyncio.Future[None]) -> None:
    if not future.cancelled():
        future.exception()
