"""The gateway of this tree against the gateway of another revision, in one run.

    python -m benchmarks.gateway_ab BASE [--rounds 3] [--calls 1500] [--texts 300]
                                        [--set NAME=VALUE ...]

Checks BASE (any git revision) out into a scratch worktree, starts one Triton on the
published repository and both gateways (`python -m gateway` of each tree, same settings
as `make bench`'s) in front of it, and measures them in alternating rounds, the order
swapped every round: Predict at concurrency 16 (`--calls` calls: texts/s and the gateway
process's CPU per call) and at 1 (p50), and Triton itself at both for reference. Prints
each side's medians and this tree's ratios to BASE's. `--set` adds a setting (an
environment variable) to this tree's gateway only, to measure a setting the same way.

A change to the gateway's CPU per call is a few percent: measured apart, on a shared box,
it drowns in the minutes between two runs; side by side, both gateways see the same box.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.load import AsyncCall, run_concurrent
from benchmarks.services import (
    ROOT,
    bench_triton,
    create_api_key,
    free_port,
    gateway_env,
    start_gateway,
)

MODEL = "sentiment"


@dataclass
class Side:
    """One gateway (or Triton itself, `pid` 0) and what each round measured."""

    name: str
    url: str = ""
    key: str = ""
    pid: int = 0
    rounds: list[dict[str, float]] = field(default_factory=list)

    def median(self, measure: str) -> float:
        return statistics.median(r[measure] for r in self.rounds)


MEASURES = (
    ("texts_per_s_16", "c=16 texts/s"),
    ("cpu_ms_16", "CPU ms/call at c=16"),
    ("p50_ms_1", "c=1 p50 ms"),
)


def report(base: Side, head: Side, triton: Side) -> str:
    """Each side's medians and head's ratio to base (a markdown table)."""
    lines = [
        f"| measure | {triton.name} | {base.name} | {head.name} | {head.name} / {base.name} |",
        "| --- | --- | --- | --- | --- |",
    ]
    for key, label in MEASURES:
        reference = f"{triton.median(key):.2f}" if key != "cpu_ms_16" else ""
        ratio = head.median(key) / base.median(key) if base.median(key) else float("nan")
        lines.append(
            f"| {label} | {reference} | {base.median(key):.2f} | {head.median(key):.2f} "
            f"| {ratio:.2f}x |"
        )
    return "\n".join(lines)


async def measure_round(side: Side, call: AsyncCall, texts: list[str], calls: int) -> None:
    """One round of `side`: `calls` calls at concurrency 16, then len(texts) at 1."""
    many = (texts * (calls // len(texts) + 1))[:calls]
    busy = await run_concurrent(call, many, 16, side.pid or None)
    alone = await run_concurrent(call, texts, 1)
    side.rounds.append(
        {
            "texts_per_s_16": busy.texts_per_s,
            "cpu_ms_16": busy.cpu_ms_per_call or 0.0,
            "p50_ms_1": alone.p50,
        }
    )


async def run_rounds(
    triton_url: str, sides: list[Side], triton: Side, texts: list[str], rounds: int, calls: int
) -> None:
    from benchmarks.clients import ServedClients

    clients = [ServedClients(triton_url, side.url, side.key) for side in sides]
    try:
        for client in clients:  # warm both gateways and Triton
            await run_concurrent(client.gateway(), texts[:64], 16)
        for index in range(rounds):
            order = list(zip(sides, clients, strict=True))
            for side, client in order if index % 2 == 0 else order[::-1]:
                await measure_round(side, client.gateway(), texts, calls)
            await measure_round(triton, clients[0].triton(MODEL), texts, calls)
            print(f"round {index + 1}/{rounds} done", flush=True)
    finally:
        for client in clients:
            await client.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base", help="git revision whose gateway is the baseline")
    parser.add_argument("--repository", type=Path, help="model repository (default: published)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--calls", type=int, default=1500, help="calls per c=16 run")
    parser.add_argument("--texts", type=int, default=300, help="SST-2 sentences (c=1 run)")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE")
    args = parser.parse_args(argv)

    from benchmarks.texts import sentences
    from config.settings import PipelineSettings

    settings = PipelineSettings()
    repository = args.repository or Path(settings.repository_path())
    extra = dict(item.split("=", 1) for item in args.set)
    texts = sentences(settings.data, args.texts)
    with tempfile.TemporaryDirectory(prefix="sentiment-gateway-ab-") as folder:
        scratch = Path(folder)
        base_tree = scratch / "base"
        subprocess.run(
            ["git", "worktree", "add", "--detach", str(base_tree), args.base],
            cwd=ROOT, check=True, capture_output=True,
        )  # fmt: skip
        server = bench_triton(repository, scratch / "triton", [MODEL])
        processes: list[subprocess.Popen[bytes]] = []
        try:
            server.start()
            server.wait_ready(240)
            sides = []
            for name, tree, overrides in (
                (f"base {args.base}", base_tree, {}),
                ("this tree", ROOT, extra),
            ):
                state = scratch / f"state-{len(sides)}"
                state.mkdir()
                port = free_port()
                env = gateway_env(state, repository, server.grpc_port, port, free_port())
                process = start_gateway({**env, **overrides}, port, tree)
                processes.append(process)
                side = Side(name, f"127.0.0.1:{port}", create_api_key(state), process.pid)
                sides.append(side)
            triton = Side("Triton itself")
            asyncio.run(run_rounds(server.grpc_url, sides, triton, texts, args.rounds, args.calls))
        finally:
            for process in processes:
                process.terminate()
                process.wait(60)
            server.stop()
            subprocess.run(
                ["git", "worktree", "remove", "--force", str(base_tree)], cwd=ROOT, check=False
            )
    print(f"\n{args.rounds} alternating rounds, medians ({' '.join(args.set) or 'no --set'})\n")
    print(report(sides[0], sides[1], triton))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
