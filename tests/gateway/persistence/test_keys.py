from __future__ import annotations

from pathlib import Path

import pytest
from persistence_helpers import run
from sqlalchemy import Engine, text

from gateway.core.contracts import Caller, KeyRevoked, KeyStoreUnavailable
from gateway.persistence.keys import ApiKeyStore, KeyNameError
from store import make_engine, upgrade_database


def test_create_verify_list_revoke(engine: Engine) -> None:
    store = ApiKeyStore(engine, pepper=b"pepper")
    issued = store.create("team-a")
    assert issued.token.startswith(f"snt_{issued.key_id}_")
    assert store.verify(issued.token) == Caller(key_id=issued.key_id, name="team-a")

    wrong = issued.token[:-1] + ("A" if issued.token[-1] != "A" else "B")
    assert store.verify(wrong) is None
    assert store.verify("not a key") is None
    assert ApiKeyStore(engine, pepper=b"other").verify(issued.token) is None

    other = store.create("team-b")
    assert [(k.key_id, k.name, k.revoked_at) for k in store.list_keys()] == [
        (issued.key_id, "team-a", None),
        (other.key_id, "team-b", None),
    ]
    with pytest.raises(KeyNameError):
        store.create("team-a")  # one active key per name
    with pytest.raises(KeyNameError):
        store.create("bad name!")

    assert store.revoke("team-a") == [issued.key_id]
    assert store.revoke("team-a") == []
    with pytest.raises(KeyRevoked):
        store.verify(issued.token)
    assert store.verify(other.token) is not None
    revoked = {k.key_id: k.revoked_at for k in store.list_keys()}
    assert revoked[issued.key_id] is not None
    assert store.create("team-a").key_id != issued.key_id  # the name may be reissued


def test_only_a_salted_hash_is_stored(engine: Engine) -> None:
    store = ApiKeyStore(engine)
    first, second = store.create("one"), store.create("two")
    with engine.connect() as connection:
        stored = [tuple(r) for r in connection.execute(text("SELECT * FROM api_keys"))]
    dump = repr(stored)
    for issued in (first, second):
        secret = issued.token.rsplit("_", 1)[1]
        assert issued.token not in dump
        assert secret not in dump
    hashes = {row[3] for row in stored}
    assert len(hashes) == 2 and all(len(h) == 64 for h in hashes)


def test_authenticate_caches_and_sees_revocation(engine: Engine) -> None:
    store = ApiKeyStore(engine, cache_ttl_s=0.0)
    issued = store.create("svc")

    async def body() -> None:
        assert await store.authenticate(issued.token) == Caller(issued.key_id, "svc")
        assert await store.authenticate("snt_000000000000_" + "x" * 43) is None
        assert await store.authenticate("Bearer nonsense") is None
        ApiKeyStore(engine).revoke("svc")  # another process (the CLI) revokes it
        with pytest.raises(KeyRevoked):
            await store.authenticate(issued.token)

    run(body())


def test_known_keys_survive_a_database_outage(tmp_path: Path) -> None:
    """The outage is simulated by deleting the SQLite file (PostgreSQL: test_audit_faults)."""
    path = tmp_path / "keys.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade_database(engine)
    store = ApiKeyStore(engine, cache_ttl_s=0.0, stale_ttl_s=60.0)
    known, unseen = store.create("known"), store.create("unseen")

    async def body() -> None:
        assert await store.authenticate(known.token) is not None
        engine.dispose()
        for leftover in tmp_path.glob("keys.db*"):
            leftover.unlink()  # reconnecting now finds no tables: OperationalError
        assert await store.authenticate(known.token) is not None
        with pytest.raises(KeyStoreUnavailable):
            await store.authenticate(unseen.token)

    run(body())
    engine.dispose()
