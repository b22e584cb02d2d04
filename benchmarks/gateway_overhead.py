"""Gateway overhead versus calling Triton directly, in the same run.

    python benchmarks/gateway_overhead.py [--repository PATH] [--requests 400] [--rounds 3]

Starts Triton on the repository (default: the pipeline's) on free ports and the gateway
as its own process (`python -m gateway`, SQLite audit with its spool, drift sampling on),
then sends the same SST-2 sentences one text per call, at concurrency 1 and 16, directly
to Triton's `sentiment` ensemble and through the gateway. Direct and gateway runs
alternate for `--rounds` rounds (shared, noisy CPUs: each round compares like with like);
it prints each path's median p50/p99 latency and throughput over the rounds, the p50 added
by the gateway, the median per-round throughput ratio, and the gateway process's CPU time
per request (the least noisy measure of its own cost).
Targets (issue 3): <= 2 ms added p50 at concurrency 1; >= 80% throughput at 16.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from api.generated.sentiment.v1 import sentiment_pb2 as pb  # noqa: E402
from api.generated.sentiment.v1 import sentiment_pb2_grpc as pb_grpc  # noqa: E402

Call = Callable[[str], Awaitable[object]]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def sentences(count: int) -> list[str]:
    from config.settings import PipelineSettings
    from export.golden import golden_texts

    texts = golden_texts(PipelineSettings().data)
    return [texts[i % len(texts)] for i in range(count)]


async def measure(call: Call, texts: list[str], concurrency: int) -> dict[str, float]:
    latencies: list[float] = []
    queue = list(reversed(texts))

    async def worker() -> None:
        while queue:
            text = queue.pop()
            started = time.perf_counter()
            await call(text)
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall = time.perf_counter() - started
    ms = sorted(x * 1000 for x in latencies)
    return {
        "p50": statistics.median(ms),
        "p99": ms[min(len(ms) - 1, int(len(ms) * 0.99))],
        "rps": len(ms) / wall,
    }


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process `pid` so far (Linux /proc; 0.0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_gateway(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"gateway exited: {process.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return process
        time.sleep(0.2)
    raise SystemExit("gateway did not start")


async def run(args: argparse.Namespace, triton_url: str, gateway_url: str, key: str) -> None:
    import grpc
    import tritonclient.grpc.aio as triton_aio
    from tritonclient.grpc import InferInput, InferRequestedOutput

    triton = triton_aio.InferenceServerClient(triton_url)
    channel = grpc.aio.insecure_channel(gateway_url)
    stub = pb_grpc.SentimentServiceStub(channel)
    metadata = (("authorization", f"Bearer {key}"),)
    outputs = [InferRequestedOutput(n) for n in ("LABEL", "SCORE", "PROBABILITIES")]

    async def direct(text: str) -> object:
        tensor = InferInput("TEXT", [1, 1], "BYTES")
        tensor.set_data_from_numpy(np.array([[text.encode()]], dtype=np.object_))
        return await triton.infer("sentiment", [tensor], outputs=outputs, client_timeout=30)

    async def via_gateway(text: str) -> object:
        return await stub.Predict(pb.PredictRequest(text=text), metadata=metadata, timeout=30)

    texts = sentences(args.requests)
    await measure(direct, texts[:50], 4)  # warm-up both paths
    await measure(via_gateway, texts[:50], 4)
    print(f"{args.requests} requests per run, one SST-2 sentence per call, {args.rounds} rounds")
    print("medians over the rounds; gateway CPU: its process's CPU time per request\n")
    print(f"{'concurrency':>11} {'path':>8} {'p50 ms':>8} {'p99 ms':>8} {'req/s':>8} {'CPU ms':>7}")
    for concurrency in (1, 16):
        rounds: dict[str, list[dict[str, float]]] = {"triton": [], "gateway": []}
        for _ in range(args.rounds):
            for name, call in (("triton", direct), ("gateway", via_gateway)):
                cpu = cpu_seconds(args.gateway_pid)
                result = await measure(call, texts, concurrency)
                result["cpu"] = (cpu_seconds(args.gateway_pid) - cpu) * 1000 / len(texts)
                rounds[name].append(result)
        medians = {
            name: {k: statistics.median(r[k] for r in runs) for k in runs[0]}
            for name, runs in rounds.items()
        }
        for name, r in medians.items():
            cpu_text = f"{r['cpu']:7.2f}" if name == "gateway" else f"{'':>7}"
            print(
                f"{concurrency:>11} {name:>8} {r['p50']:8.2f} {r['p99']:8.2f} {r['rps']:8.1f}"
                f" {cpu_text}"
            )
        added = medians["gateway"]["p50"] - medians["triton"]["p50"]
        pairs = zip(rounds["gateway"], rounds["triton"], strict=True)
        ratios = [g["rps"] / t["rps"] for g, t in pairs]
        spread = ", ".join(f"{r:.0%}" for r in ratios)
        print(
            f"{'':>11} {'gateway':>8} adds {added:.2f} ms p50; throughput ratio "
            f"{statistics.median(ratios):.0%} (rounds: {spread})\n"
        )
    await channel.close()
    await triton.close()
    print(breakdown(args.metrics_url))


def breakdown(url: str) -> str:
    """Mean whole-call and Triton-call time as the gateway measured them (all runs)."""
    import urllib.request

    text = urllib.request.urlopen(url, timeout=5).read().decode()
    values: dict[str, float] = {}
    for line in text.splitlines():
        for name in ("request_seconds", "triton_seconds"):
            for part in ("sum", "count"):
                if line.startswith(f"sentiment_gateway_{name}_{part}"):
                    values[f"{name}_{part}"] = values.get(f"{name}_{part}", 0.0) + float(
                        line.rsplit(" ", 1)[1]
                    )
    total = values["request_seconds_sum"] / max(values["request_seconds_count"], 1) * 1000
    model = values["triton_seconds_sum"] / max(values["triton_seconds_count"], 1) * 1000
    return f"inside the gateway: mean call {total:.2f} ms, of which the Triton call {model:.2f} ms"


def main() -> int:
    from config.settings import PipelineSettings
    from gateway.persistence.keys import ApiKeyStore
    from serving.tritonserver import TritonServer
    from store import make_engine, upgrade_database

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--repository", type=Path, default=Path(PipelineSettings().repository_path())
    )
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=3, help="alternating direct/gateway runs")
    parser.add_argument("--drift-sample-rate", default="0.1")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as state:
        engine = make_engine(f"sqlite:///{state}/gateway.db")
        upgrade_database(engine)
        key = ApiKeyStore(engine).create("benchmark").token
        engine.dispose()
        triton = TritonServer(
            repository=args.repository,
            work_dir=Path(state) / "triton",
            http_port=free_port(),
            grpc_port=free_port(),
            metrics_port=free_port(),
            models=["sentiment_tokenizer", "sentiment_onnx", "sentiment_postprocess", "sentiment"],
        )
        port, metrics_port = free_port(), free_port()
        args.metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
        env = {
            **os.environ,
            "SENTIMENT_STATE_DIR": state,
            "SENTIMENT_MODEL_REPOSITORY": str(args.repository),
            "SENTIMENT_GATEWAY_HOST": "127.0.0.1",
            "SENTIMENT_GATEWAY_PORT": str(port),
            "SENTIMENT_GATEWAY_METRICS_PORT": str(metrics_port),
            "SENTIMENT_TRITON_HOST": "127.0.0.1",
            "SENTIMENT_TRITON_GRPC_PORT": str(triton.grpc_port),
            "SENTIMENT_GATEWAY_RATE_LIMIT_PER_SECOND": "1000000",
            "SENTIMENT_GATEWAY_RATE_LIMIT_BURST": "1000000",
            "SENTIMENT_GATEWAY_DRIFT_SAMPLE_RATE": args.drift_sample_rate,
            "SENTIMENT_LOG_LEVEL": "WARNING",
        }
        with triton:
            gateway = start_gateway(env, port)
            args.gateway_pid = gateway.pid
            try:
                asyncio.run(run(args, triton.grpc_url, f"127.0.0.1:{port}", key))
            finally:
                gateway.send_signal(signal.SIGTERM)
                gateway.wait(60)
    return 0


if __name__ == "__main__":
    sys.exit(main())
