from __future__ import annotations

import asyncio
import itertools
import json
import secrets
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from persistence_helpers import run
from sqlalchemy import Engine, create_engine, event, text

from config import DeprecatedVariableWarning
from gateway.core.contracts import Caller, KeyRevoked, KeyStoreUnavailable
from gateway.persistence.key_snapshot import KeyRow, read_snapshot, write_snapshot
from gateway.persistence.keys import ApiKeyStore, KeyNameError
from gateway.settings import ApiKeySettings
from store import make_engine, upgrade_database
from tests.gateway.conftest import BlackHole, free_port

FAST: dict[str, Any] = {"refresh_interval_s": 0.3, "min_reload_interval_s": 0.1}


def made_up_token() -> str:
    return f"snt_{secrets.token_hex(6)}_{secrets.token_urlsafe(32)}"


@pytest.fixture
def key_loads(engine: Engine) -> Iterator[list[float]]:
    """When each query of the key table reached the database."""
    loads: list[float] = []

    def count(*args: Any) -> None:
        if "FROM api_keys" in args[2]:
            loads.append(time.monotonic())

    event.listen(engine, "before_cursor_execute", count)
    yield loads
    event.remove(engine, "before_cursor_execute", count)


def unreachable_engine() -> Engine:
    """PostgreSQL on a port where nothing listens: every connection is refused at once."""
    return make_engine(f"postgresql+psycopg2://nobody@127.0.0.1:{free_port()}/none")


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
        secret = issued.token.split("_", 2)[2]  # snt_<key id>_<secret>; the secret may hold _
        assert issued.token not in dump
        assert secret not in dump
    hashes = {row[3] for row in stored}
    assert len(hashes) == 2 and all(len(h) == 64 for h in hashes)


def test_a_key_created_elsewhere_works_at_once_and_a_revocation_bites_within_an_interval(
    engine: Engine,
) -> None:
    store = ApiKeyStore(engine, **FAST)
    cli = ApiKeyStore(engine)  # another process: the operator's `sentiment keys`

    async def body() -> None:
        await store.start()
        issued = cli.create("svc")  # after the table was loaded
        assert await store.authenticate(issued.token) == Caller(issued.key_id, "svc")
        assert await store.authenticate(made_up_token()) is None
        assert await store.authenticate("Bearer nonsense") is None

        cli.revoke("svc")
        revoked_at = time.monotonic()
        while True:
            try:
                await store.authenticate(issued.token)
            except KeyRevoked:
                break
            await asyncio.sleep(0.02)
        assert time.monotonic() - revoked_at < FAST["refresh_interval_s"] + 0.5

        own = store.create("own")
        assert await store.authenticate(own.token) is not None
        store.revoke("own")  # through the gateway's own store: at once
        with pytest.raises(KeyRevoked):
            await store.authenticate(own.token)
        await store.close()

    run(body())


def test_authenticate_before_start_loads_the_table(engine: Engine) -> None:
    """The gateway's wiring may not call start(): the first call does."""
    store = ApiKeyStore(engine)
    issued = store.create("lazy")

    async def body() -> None:
        calls = [store.authenticate(issued.token) for _ in range(5)]
        assert await asyncio.gather(*calls) == [Caller(issued.key_id, "lazy")] * 5
        assert store.table_age_s < 5 and store.database_ok and not store.from_snapshot
        await store.close()

    run(body())


def test_a_flood_of_made_up_ids_costs_a_query_a_second_and_evicts_nothing(
    engine: Engine, key_loads: list[float]
) -> None:
    store = ApiKeyStore(engine, refresh_interval_s=3600.0)
    issued = ApiKeyStore(engine).create("honest")
    flood_answers: list[Caller | None] = []
    honest_waits: list[float] = []

    async def flood(until: float) -> None:
        while time.monotonic() < until:
            flood_answers.append(await store.authenticate(made_up_token()))

    async def honest(until: float) -> None:
        while time.monotonic() < until:
            started = time.monotonic()
            assert await store.authenticate(issued.token) == Caller(issued.key_id, "honest")
            honest_waits.append(time.monotonic() - started)
            await asyncio.sleep(0.01)

    async def body() -> float:
        await store.start()
        key_loads.clear()
        started = time.monotonic()
        until = started + 3.0
        await asyncio.gather(honest(until), *(flood(until) for _ in range(200)))
        elapsed = time.monotonic() - started
        await store.close()
        return elapsed

    elapsed = run(body())
    assert len(flood_answers) >= 200 and set(flood_answers) == {None}  # UNAUTHENTICATED
    assert store.unknown_key_ids == len(flood_answers)
    # One reload a second at most, whatever the number of made-up ids.
    assert 1 <= len(key_loads) <= elapsed + 1
    assert all(b - a >= 0.9 for a, b in itertools.pairwise(key_loads))
    assert len(honest_waits) > 50 and max(honest_waits) < 0.1  # never waited on a reload


def test_snapshot_lets_a_gateway_start_while_the_database_is_unreachable(
    engine: Engine, tmp_path: Path
) -> None:
    snapshot = tmp_path / "gateway-state" / "api-keys.snapshot.json"
    earlier = ApiKeyStore(engine, pepper=b"p", snapshot_file=snapshot)
    kept, gone = earlier.create("kept"), earlier.create("gone")
    earlier.revoke("gone")

    async def write() -> None:
        await earlier.start()
        await earlier.close()

    run(write())
    assert stat.S_IMODE(snapshot.stat().st_mode) == 0o600
    content = snapshot.read_text()
    for issued in (kept, gone):
        assert issued.key_id in content
        assert issued.token not in content and issued.token.split("_", 2)[2] not in content
    assert [p.name for p in snapshot.parent.iterdir()] == [snapshot.name]  # no temporary left

    down = unreachable_engine()
    store = ApiKeyStore(down, pepper=b"p", snapshot_file=snapshot, start_timeout_s=1.0)

    async def body() -> None:
        await store.start()
        assert store.from_snapshot and not store.database_ok and store.refresh_failures >= 1
        assert store.table_age_s < 60
        assert await store.authenticate(kept.token) == Caller(kept.key_id, "kept")
        with pytest.raises(KeyRevoked):  # a revoked key stays revoked
            await store.authenticate(gone.token)
        assert await store.authenticate(kept.token[:-2] + "xx") is None  # wrong secret
        with pytest.raises(KeyStoreUnavailable):  # it may exist: cannot tell now
            await store.authenticate(made_up_token())
        await store.close()

    run(body())
    down.dispose()


def test_without_database_and_snapshot_the_store_is_unavailable(tmp_path: Path) -> None:
    down = unreachable_engine()
    store = ApiKeyStore(down, snapshot_file=tmp_path / "none.json", start_timeout_s=1.0)

    async def body() -> None:
        await store.start()  # the gateway starts; its calls get UNAVAILABLE
        assert store.table_age_s == float("inf") and not store.from_snapshot
        with pytest.raises(KeyStoreUnavailable):
            await store.authenticate(made_up_token())
        await store.close()

    run(body())
    down.dispose()


def test_a_snapshot_older_than_stale_ttl_is_not_trusted(tmp_path: Path) -> None:
    snapshot = tmp_path / "keys.json"
    maker = ApiKeyStore(unreachable_engine(), pepper=b"p")
    salt = secrets.token_hex(16)
    secret = secrets.token_urlsafe(32)
    row = KeyRow("old", salt, maker._digest(salt, secret), revoked=False)
    write_snapshot(snapshot, {"0123456789ab": row}, time.time() - 100)
    token = f"snt_0123456789ab_{secret}"

    async def authenticate(stale_ttl_s: float) -> Caller | None:
        store = ApiKeyStore(
            maker.engine, pepper=b"p", snapshot_file=snapshot, stale_ttl_s=stale_ttl_s
        )
        try:
            return await store.authenticate(token)
        finally:
            assert 100 <= store.table_age_s < 110  # counted from the snapshot's load
            await store.close()

    assert run(authenticate(600.0)) == Caller("0123456789ab", "old")
    with pytest.raises(KeyStoreUnavailable):
        run(authenticate(50.0))
    maker.engine.dispose()


def test_snapshots_that_others_can_write_or_that_are_malformed_are_refused(
    tmp_path: Path,
) -> None:
    snapshot = tmp_path / "keys.json"
    write_snapshot(snapshot, {}, time.time())
    assert read_snapshot(snapshot)[0] == {}
    snapshot.chmod(0o620)
    with pytest.raises(ValueError, match="writable"):
        read_snapshot(snapshot)
    snapshot.chmod(0o600)
    body = json.loads(snapshot.read_text())
    body["keys"] = [{"key_id": "../../etc", "name": "x", "salt": "00", "secret_hash": "00"}]
    snapshot.write_text(json.dumps(body))
    with pytest.raises(ValueError):
        read_snapshot(snapshot)


def test_the_database_takes_over_from_the_snapshot_when_it_is_back(tmp_path: Path) -> None:
    """SQLite without its tables stands for a database that is down, then comes back."""
    path, snapshot = tmp_path / "keys.db", tmp_path / "keys.json"
    first = make_engine(f"sqlite:///{path}")
    upgrade_database(first)
    old = ApiKeyStore(first, snapshot_file=snapshot).create("old")
    run(ApiKeyStore(first, snapshot_file=snapshot).start())
    first.dispose()
    for leftover in tmp_path.glob("keys.db*"):
        leftover.unlink()

    engine = make_engine(f"sqlite:///{path}")
    store = ApiKeyStore(engine, snapshot_file=snapshot, **FAST)

    async def body() -> None:
        await store.start()
        assert store.from_snapshot
        assert await store.authenticate(old.token) is not None
        await asyncio.to_thread(upgrade_database, engine)  # back, with other keys
        back = time.monotonic()
        deadline = back + 5
        while time.monotonic() < deadline and not (
            store.database_ok and store.table_age_s < time.monotonic() - back
        ):  # until a load that began after the migrations was answered
            await asyncio.sleep(0.05)
        assert not store.from_snapshot and store.database_ok
        new = ApiKeyStore(engine).create("new")
        assert await store.authenticate(new.token) is not None
        assert await store.authenticate(old.token) is None  # not in the database
        await store.close()

    run(body())
    assert "old" not in snapshot.read_text() and "new" in snapshot.read_text()
    engine.dispose()


def test_a_hung_database_never_holds_up_a_known_key(
    black_hole: BlackHole, tmp_path: Path, postgres_url: str
) -> None:
    """Issue 11: with the database hung, 20 concurrent authentications took 20 s."""
    snapshot = tmp_path / "keys.json"
    healthy = make_engine(postgres_url)
    upgrade_database(healthy)
    issued = ApiKeyStore(healthy).create(f"hung-{secrets.token_hex(4)}")
    run(ApiKeyStore(healthy, snapshot_file=snapshot).start())
    healthy.dispose()

    hung = create_engine(
        f"postgresql+psycopg2://nobody@{black_hole.url}/none",
        connect_args={"connect_timeout": 2},
    )
    store = ApiKeyStore(hung, snapshot_file=snapshot, start_timeout_s=0.5, lookup_timeout_s=0.5)

    async def body() -> None:
        started = time.monotonic()
        callers = await asyncio.gather(*(store.authenticate(issued.token) for _ in range(20)))
        assert {c.key_id for c in callers if c} == {issued.key_id} and None not in callers
        assert time.monotonic() - started < 1.5  # the start's wait, then memory only
        started = time.monotonic()
        for _ in range(20):
            with pytest.raises(KeyStoreUnavailable):
                await store.authenticate(made_up_token())
        assert time.monotonic() - started < 1.0  # an unknown id does not wait either
        await store.close()

    run(body())
    hung.dispose()


def test_settings_of_the_key_table(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SENTIMENT_STATE_DIR", str(tmp_path))
    settings = ApiKeySettings()
    assert settings.resolved_snapshot_file() == tmp_path / "api-keys.snapshot.json"
    assert (settings.refresh_interval_s, settings.stale_ttl_s) == (5.0, 600.0)
    monkeypatch.setenv("SENTIMENT_API_KEY_SNAPSHOT_FILE", "/elsewhere/keys.json")
    monkeypatch.setenv("SENTIMENT_API_KEY_REFRESH_INTERVAL_S", "2")
    settings = ApiKeySettings()
    assert settings.resolved_snapshot_file() == Path("/elsewhere/keys.json")
    assert settings.refresh_interval_s == 2.0
    monkeypatch.delenv("SENTIMENT_API_KEY_REFRESH_INTERVAL_S")
    monkeypatch.setenv("SENTIMENT_API_KEY_CACHE_TTL_S", "3")
    with pytest.warns(DeprecatedVariableWarning, match="use SENTIMENT_API_KEY_REFRESH_INTERVAL_S"):
        assert ApiKeySettings().refresh_interval_s == 3.0
    monkeypatch.delenv("SENTIMENT_API_KEY_CACHE_TTL_S")
