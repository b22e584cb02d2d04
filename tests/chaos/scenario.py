"""`Scenario`: what one chaos test works with (the `scenario` fixture in conftest.py).

A database of its own on the suite's PostgreSQL, API keys made with `sentiment keys
create`, gateway processes in front of the session's Triton, and its entry in the report.
On teardown every gateway it started is stopped and PostgreSQL is running again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from serving.tritonserver import TritonServer
from tests.chaos.harness import GatewayProcess, OwnPostgres, create_key
from tests.chaos.ledger import Tally, settle
from tests.chaos.summary import ScenarioEntry
from tests.chaos.traffic import Outcome

LEASE_TTL_S = 3.0
RECOVERY_INTERVAL_S = 1.0


class Scenario:
    def __init__(
        self,
        slug: str,
        entry: ScenarioEntry,
        postgres: OwnPostgres,
        triton: TritonServer,
        repository: Path,
        work: Path,
    ) -> None:
        self.slug = slug
        """Prefix of the scenario's request ids and name of its database."""
        self.entry = entry
        self.postgres = postgres
        self.triton = triton
        self.repository = repository
        self.work = work
        self.spool_root = work / "spool"
        """The spool root every gateway of the scenario shares (one subfolder each)."""
        self.database_url = postgres.create_database(f"chaos_{slug}")
        self.gateways: list[GatewayProcess] = []

    def key(self, name: str = "chaos") -> str:
        """A new API key on the scenario's database (the CLI migrates it first)."""
        return create_key(self.work / "operator", self.database_url, name)

    def gateway(
        self,
        name: str,
        *,
        state: Path | None = None,
        env: Mapping[str, str] | None = None,
    ) -> GatewayProcess:
        """Start `sentiment gateway` with spool instance id `name` and wait until it is
        SERVING. `env`: more or overriding SENTIMENT_* variables."""
        settings = {
            "SENTIMENT_MODEL_REPOSITORY": str(self.repository),
            "SENTIMENT_TRITON_HOST": "127.0.0.1",
            "SENTIMENT_TRITON_GRPC_PORT": str(self.triton.grpc_port),
            "SENTIMENT_TRITON_HTTP_PORT": str(self.triton.http_port),
            "SENTIMENT_DATABASE_URL": self.database_url,
            "SENTIMENT_AUDIT_SPOOL_DIR": str(self.spool_root),
            "SENTIMENT_AUDIT_INSTANCE_ID": name,
            "SENTIMENT_AUDIT_LEASE_TTL_S": str(LEASE_TTL_S),
            "SENTIMENT_AUDIT_RECOVERY_INTERVAL_S": str(RECOVERY_INTERVAL_S),
            "SENTIMENT_AUDIT_RETRY_MAX_S": "1",
            # The load is a few threads with one key: never rate limited.
            "SENTIMENT_GATEWAY_RATE_LIMIT_PER_SECOND": "100000",
            "SENTIMENT_GATEWAY_RATE_LIMIT_BURST": "100000",
            **(env or {}),
        }
        gateway = GatewayProcess(name, state or self.work / f"state-{name}", settings)
        self.gateways.append(gateway.start())
        return gateway.wait_serving()

    def instance_dir(self, instance_id: str) -> Path:
        return self.spool_root / instance_id

    def count(
        self,
        label: str,
        outcomes: Sequence[Outcome],
        timeout: float = 60.0,
        lost_allowed: int = 0,
    ) -> Tally:
        """Wait for the acknowledged records (at most `timeout` s), add the tally to the
        report under `label` and return it."""
        tally, waited = settle(self.database_url, outcomes, self.slug, timeout, lost_allowed)
        self.entry.add(label, tally)
        if tally.rows > tally.audited:
            self.entry.note(
                f"{label}: {tally.rows - tally.audited} more records stored than acknowledged "
                "(calls the client saw fail after the gateway had taken them)"
            )
        if tally.mismatched:
            self.entry.note(f"{label}: stored with another outcome: {tally.mismatched[:5]}")
        if tally.lost:
            self.entry.note(f"{label}: missing audit ids {tally.lost_ids[:5]}")
        if tally.lost == 0:
            self.entry.note(f"{label}: every acknowledged record found within {waited:.1f} s")
        elif tally.lost <= lost_allowed:
            self.entry.note(f"{label}: all but {tally.lost} found within {waited:.1f} s")
        else:
            self.entry.note(f"{label}: still missing after waiting {waited:.0f} s")
        return tally

    def close(self) -> None:
        for gateway in self.gateways:
            gateway.kill()
        if not self.postgres.running:
            self.postgres.start()
