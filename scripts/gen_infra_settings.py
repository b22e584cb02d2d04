"""Write the gateway's stop timing for Terraform, from the gateway's own settings.

    python scripts/gen_infra_settings.py            # rewrite the JSON file
    python scripts/gen_infra_settings.py --check    # exit 1 when it is stale

ECS must give a stopping gateway long enough to drain its calls, store queued drift
samples and flush its audit spool, or SIGKILL cuts the flush short; and the gateway must be
told the same drain and flush times the stop timeout was sized for. Terraform cannot
import `gateway.settings`, so the numbers travel in a committed JSON file
(infra/terraform/modules/services/gateway-stop.json) that the services module reads with
`jsondecode(file(...))` for the container's `stopTimeout`, the load balancer's
deregistration delay and the `SENTIMENT_*` variables it passes. Compose cannot read JSON:
tests/infra/test_compose.py holds its `stop_grace_period` to the same budget.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a file (`python scripts/...`), not as a module
    sys.path.insert(0, str(ROOT))

from gateway.settings import (  # noqa: E402 (after the path set-up above)
    DRIFT_CLOSE_SECONDS,
    AuditSettings,
    GatewaySettings,
    stop_budget_seconds,
)

TARGET = ROOT / "infra" / "terraform" / "modules" / "services" / "gateway-stop.json"

STOP_MARGIN_S = 10
"""Seconds of stop timeout beyond the budget. The budget bounds the three timed phases;
outside them the stop also runs untimed steps: the init process forwarding SIGTERM, the
gRPC server closing its listener and channels, releasing the spool lease, the last fsyncs
on EFS (network round trips, not a local flush) and interpreter exit. Each phase's own
timeout may also overrun by a scheduling tick. Ten seconds covers these several times
over and keeps the total (45 s) far below ECS's 120 s limit."""

ECS_STOP_TIMEOUT_MAX_S = 120
"""The largest `stopTimeout` Fargate accepts."""


def default_settings() -> tuple[GatewaySettings, AuditSettings]:
    """The gateway's settings as a task gets them: defaults, whatever this shell has set."""
    saved = {name: os.environ.pop(name) for name in list(os.environ)
             if name.upper().startswith("SENTIMENT_")}  # fmt: skip
    try:
        return GatewaySettings(), AuditSettings()
    finally:
        os.environ.update(saved)


def stop_settings() -> dict[str, Any]:
    """The stop timing of a gateway that runs with the settings' defaults."""
    gateway, audit = default_settings()
    budget = stop_budget_seconds(gateway, audit)
    stop_timeout = math.ceil(budget) + STOP_MARGIN_S
    if stop_timeout > ECS_STOP_TIMEOUT_MAX_S:
        raise SystemExit(
            f"stop timeout {stop_timeout} s exceeds ECS's {ECS_STOP_TIMEOUT_MAX_S} s: "
            "shorten the gateway's drain or audit close timeout"
        )
    return {
        "generated_by": "scripts/gen_infra_settings.py from gateway.settings: do not edit",
        "drain_seconds": gateway.drain_seconds,
        "drift_close_seconds": DRIFT_CLOSE_SECONDS,
        "audit_close_timeout_s": audit.close_timeout_s,
        "audit_lease_ttl_s": audit.lease_ttl_s,
        "audit_recovery_interval_s": audit.recovery_interval_s,
        "stop_budget_s": budget,
        "stop_margin_s": STOP_MARGIN_S,
        "stop_timeout_s": stop_timeout,
        # Calls in flight through the load balancer when a task is deregistered get as
        # long to finish as calls in flight at SIGTERM (ECS sends it after the delay).
        "deregistration_delay_s": math.ceil(gateway.drain_seconds),
    }


def render() -> str:
    return json.dumps(stop_settings(), indent=2) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail when the file is stale")
    args = parser.parse_args(argv)
    wanted = render()
    where = TARGET.relative_to(ROOT)
    if not args.check:
        TARGET.write_text(wanted)
        print(f"generated {where}")
        return 0
    if not TARGET.is_file() or TARGET.read_text() != wanted:
        print(f"{where} is stale; run scripts/gen_infra_settings.py")
        return 1
    print(f"{where} is up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
