"""`sentiment retention apply [--dry-run]`: enforce the data retention policy."""

from __future__ import annotations

import argparse
import json
from typing import Any

from config.settings import PipelineSettings


def add_commands(commands: Any) -> None:
    """Add `retention apply` to an argparse subparsers object."""
    retention = commands.add_parser("retention", help="data retention (SENTIMENT_RETENTION_*)")
    actions = retention.add_subparsers(dest="retention_command", required=True)
    apply = actions.add_parser(
        "apply",
        help="remove what the policy expires; print counts and bytes per kind",
    )
    apply.add_argument("--dry-run", action="store_true", help="only say what would go")
    apply.add_argument("--json", action="store_true", help="print the report as JSON")
    apply.set_defaults(handler=run_apply)


def run_apply(args: argparse.Namespace, settings: PipelineSettings) -> int:
    from monitoring.settings import DriftSettings
    from retention.policy import Locations, apply
    from retention.settings import RetentionSettings
    from serving.admin import admin_key
    from serving.inventory import read_server
    from serving.tritonserver import TritonServerError
    from store import make_engine, upgrade_database
    from store.settings import DatabaseSettings

    policy = RetentionSettings()
    address = settings.triton.http_address
    ready, served, error = read_server(address, admin_key(settings))
    if ready is not None and error:
        # A Triton answers but will not say what it has loaded: pruning now could remove
        # a version it serves.
        raise TritonServerError(f"Triton at {address}: {error}")
    loaded = {int(m.version) for m in served if m.ready and m.version.isdigit()} if ready else set()
    engine = make_engine(DatabaseSettings().resolved_url(), pool_size=1)
    try:
        upgrade_database(engine)
        drift = DriftSettings()
        where = Locations(
            drift.resolved_report_dir(),
            settings.repository_path(),
            settings.tracking_uri(),
            drift.experiment,
        )
        report = apply(policy, engine, where, loaded, dry_run=args.dry_run)
    finally:
        engine.dispose()
    print(json.dumps(report.as_dict(), indent=2) if args.json else report.render())
    return 0
