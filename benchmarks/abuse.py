"""What callers without a key can do to a running gateway, and what an honest caller sees.

Run against `make run` (or any gateway):

    .venv/bin/python benchmarks/abuse.py --key-file .state/local-api-key

Attacks, each in its own processes so the measuring client keeps its own CPU:
- `big batches`: 64 texts of 2,000 characters per PredictBatch, no key, without pause;
- `made-up keys`: well-formed keys with random key ids, without pause;
- `garbage`: 100 KB of bytes that are no protobuf message, no key.
The honest caller sends one short Predict at a time with a valid key. Rounds alternate
(quiet, attack, quiet, attack, ...) and the report gives the honest caller's median and p99
in each, their ratio, and what the attackers got (status codes, calls per second). Prints a
markdown table; no assertions (a shared box is noisy: read the ratios).
"""

from __future__ import annotations

import argparse
import multiprocessing
import secrets
import statistics
import time
from collections import Counter
from pathlib import Path
from typing import Any

import grpc

from api.generated.sentiment.v1 import sentiment_pb2 as pb
from api.generated.sentiment.v1 import sentiment_pb2_grpc as pb_grpc

BATCH = "/sentiment.v1.SentimentService/PredictBatch"
PREDICT = "/sentiment.v1.SentimentService/Predict"


def big_batch() -> tuple[str, bytes, Any]:
    line = "an endless, tedious and very long review number {} "
    texts = [(line.format(i) * 40)[:2000] for i in range(64)]
    return BATCH, pb.PredictBatchRequest(texts=texts).SerializeToString(), ()


def made_up_key() -> tuple[str, bytes, Any]:
    token = f"snt_{secrets.token_hex(6)}_{secrets.token_urlsafe(32)}"
    request = pb.PredictRequest(text="a fine film").SerializeToString()
    return PREDICT, request, (("authorization", f"Bearer {token}"),)


def garbage() -> tuple[str, bytes, Any]:
    return PREDICT, b"\xff\x01" * 50_000, ()


ATTACKS = {"big batches": big_batch, "made-up keys": made_up_key, "garbage": garbage}


def attacker(target: str, attack: str, seconds: float, results: Any) -> None:
    """One process sending `attack` without pause; puts its status-code counts."""
    codes: Counter[str] = Counter()
    with grpc.insecure_channel(target) as channel:
        method, data, metadata = ATTACKS[attack]()
        call = channel.unary_unary(method)  # bytes in, bytes out
        ends = time.monotonic() + seconds
        while time.monotonic() < ends:
            if attack == "made-up keys":
                method, data, metadata = made_up_key()
            try:
                call(data, metadata=metadata, timeout=10)
                codes["OK"] += 1
            except grpc.RpcError as error:
                codes[error.code().name] += 1
    results.put(dict(codes))


def honest(stub: Any, key: str, seconds: float) -> list[float]:
    latencies = []
    metadata = (("authorization", f"Bearer {key}"),)
    request = pb.PredictRequest(text="a gorgeous, witty film")
    ends = time.monotonic() + seconds
    while time.monotonic() < ends:
        started = time.perf_counter()
        stub.Predict(request, metadata=metadata, timeout=30)
        latencies.append((time.perf_counter() - started) * 1000)
    return latencies


def p99(values: list[float]) -> float:
    return sorted(values)[int(0.99 * (len(values) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", default="127.0.0.1:50051")
    parser.add_argument("--key-file", type=Path, default=Path(".state/local-api-key"))
    parser.add_argument("--attackers", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=10.0, help="per round")
    parser.add_argument("--rounds", type=int, default=2, help="quiet/attack pairs per attack")
    args = parser.parse_args()
    key = args.key_file.read_text().strip()
    context = multiprocessing.get_context("spawn")
    rows = []
    with grpc.insecure_channel(args.target) as channel:
        stub = pb_grpc.SentimentServiceStub(channel)
        honest(stub, key, 2.0)  # warm up
        for attack in ATTACKS:
            quiet: list[float] = []
            loud: list[float] = []
            codes: Counter[str] = Counter()
            for _ in range(args.rounds):
                quiet += honest(stub, key, args.seconds)
                results = context.Queue()
                workers = [
                    context.Process(
                        target=attacker, args=(args.target, attack, args.seconds + 1, results)
                    )
                    for _ in range(args.attackers)
                ]
                for worker in workers:
                    worker.start()
                time.sleep(1.0)  # attackers connected and running
                loud += honest(stub, key, args.seconds)
                for worker in workers:
                    codes.update(results.get(timeout=60))
                    worker.join()
            calls = sum(codes.values())
            rows.append(
                (
                    attack,
                    ", ".join(f"{code} {n}" for code, n in codes.most_common()),
                    calls / (args.rounds * (args.seconds + 1)),
                    statistics.median(quiet),
                    statistics.median(loud),
                    p99(quiet),
                    p99(loud),
                )
            )
    print(
        f"{args.attackers} attacking processes per attack, {args.rounds} x {args.seconds:g} s "
        "rounds alternating quiet/attack; the honest caller: one Predict at a time\n"
    )
    print(
        "| attack | attackers got | attack calls/s | honest p50 quiet ms | honest p50 attacked ms "
        "| p50 ratio | honest p99 quiet ms | honest p99 attacked ms |"
    )
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for attack, got, rate, q50, l50, q99, l99 in rows:
        print(
            f"| {attack} | {got} | {rate:.0f} | {q50:.1f} | {l50:.1f} | {l50 / q50:.2f}x "
            f"| {q99:.1f} | {l99:.1f} |"
        )


if __name__ == "__main__":
    main()
