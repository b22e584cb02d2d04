"""`sentiment rollout start | status | promote | rollback` (docs/rollouts.md).

Each command acts on the model repository's configs, the running Triton (with the admin
key) and the rollout state in the database, through `rollout.control`; `status` reads
the database only. The actor recorded with each transition is `--actor`, else the
login name.
"""

from __future__ import annotations

import argparse
import getpass
import json
from typing import Any

from config.settings import PipelineSettings
from sentiment.cli.operator import database


def _actor(args: argparse.Namespace) -> str:
    if args.actor:
        return str(args.actor)
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name in a container
        return "unknown"


def _print_applied(applied: Any, verb: str) -> None:
    r = applied.rollout
    print(
        f"rollout {r.id} {verb}: version {r.candidate_version} against {r.served_version} "
        f"({r.mode}{f' {r.canary_percent:g}%' if r.mode == 'canary' else ''}); "
        f"Triton loads version {', '.join(str(v) for v in applied.loaded)}"
    )
    if not applied.triton_reached:
        print("no Triton answered: it loads these versions when it starts")


def _settle(args: argparse.Namespace) -> float:
    from rollout.control import SETTLE_SECONDS

    return SETTLE_SECONDS if args.settle_seconds is None else float(args.settle_seconds)


def _start(args: argparse.Namespace, settings: PipelineSettings) -> int:
    from rollout import control

    with database() as engine:
        applied = control.start(
            settings,
            engine,
            args.candidate_version,
            _actor(args),
            canary_percent=args.canary_percent,
            shadow=args.shadow,
            settle_s=_settle(args),
        )
    _print_applied(applied, "started")
    return 0


def _end(args: argparse.Namespace, settings: PipelineSettings) -> int:
    """`promote` or `rollback`: the function of that name in rollout.control."""
    from rollout import control

    end = getattr(control, args.rollout_command)
    with database() as engine:
        applied = end(settings, engine, _actor(args), _settle(args))
    print(f"version {applied.loaded[0]} serves every call (rollout {applied.rollout.id})")
    return 0


def _status(args: argparse.Namespace, settings: PipelineSettings) -> int:
    from rollout.status import render, status

    with database() as engine:
        report = status(engine)
    print(json.dumps(report) if args.json else render(report))
    return 0


def add_commands(commands: Any) -> None:
    """Add `rollout` and its subcommands to an argparse subparsers object."""
    rollout = commands.add_parser(
        "rollout", help="move traffic to a new model version: canary, shadow, promote, rollback"
    )
    steps = rollout.add_subparsers(dest="rollout_command", required=True)
    start = steps.add_parser("start", help="load a candidate version and route to it")
    start.add_argument("--candidate-version", type=int, required=True)
    how = start.add_mutually_exclusive_group(required=True)
    how.add_argument(
        "--canary-percent", type=float, help="share of calls (0-100] the candidate answers"
    )
    how.add_argument(
        "--shadow",
        action="store_true",
        help="answer with the served version, send a copy to the candidate",
    )
    start.set_defaults(handler=_start)
    status = steps.add_parser("status", help="the rollout and each version's figures")
    status.add_argument("--json", action="store_true", help="one JSON object on stdout")
    status.set_defaults(handler=_status)
    for name, text in (
        ("promote", "the candidate answers every call; the old version is unloaded"),
        ("rollback", "the served version answers every call; the candidate is unloaded"),
    ):
        steps.add_parser(name, help=text).set_defaults(handler=_end)
    for step in (start, *(steps.choices[n] for n in ("promote", "rollback"))):
        step.add_argument("--actor", help="who to record (default: the login name)")
        step.add_argument(
            "--settle-seconds",
            type=float,
            help="seconds for every gateway to follow the database before the command goes "
            "on (unloads a version) or returns (default: past the gateways' longest poll "
            "interval)",
        )
