"""The measuring itself: warm-up, alternating rounds over every path, accuracy.

`measure(plan, services, model, results)` runs inside one event loop: each round runs the
path groups (in-process, Triton, gateway, INT8, long reviews) in an order rotated by one
per round, so slow phases of a shared box hit every path alike. A path that cannot be
measured (INT8 not published, long reviews refused by Triton) is noted in `results.notes`
and skipped from then on; anything else unexpected stops the bench.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from benchmarks.clients import ServedClients, refusal
from benchmarks.inprocess import InProcessModel
from benchmarks.load import run_batched, run_concurrent, run_sequential
from benchmarks.results import (
    GATEWAY,
    GATEWAY_CONCURRENCY,
    INPROCESS,
    INPROCESS_BATCH,
    INT8,
    INT8_CONCURRENCY,
    LONG_INPROCESS,
    LONG_TRITON,
    TRITON,
    TRITON_CONCURRENCY,
    Results,
    key,
)
from benchmarks.services import Services, gateway_histograms, inside_gateway

FP32_MODEL = "sentiment"
INT8_MODEL = "sentiment_int8"
BATCH_SIZE = 32
WARMUP_TEXTS = 32


@dataclass(frozen=True)
class Plan:
    """What to send: the texts of every run, the long reviews and the labelled dev set."""

    texts: list[str]
    long_texts: list[str]
    dev_texts: list[str]
    dev_labels: list[int]
    labels: tuple[str, ...]
    rounds: int


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class Rounds:
    """The path groups of one bench run, with the clients they share."""

    def __init__(
        self, plan: Plan, services: Services, model: InProcessModel, results: Results
    ) -> None:
        self.plan = plan
        self.services = services
        self.model = model
        self.results = results
        self.clients: ServedClients  # opened by run(), inside the event loop

    async def inprocess(self) -> None:
        texts = self.plan.texts
        self.results.add(key(INPROCESS), run_sequential(self.model.predict_one, texts))
        stats = run_batched(self.model.predict_many, texts, BATCH_SIZE)
        self.results.add(key(INPROCESS_BATCH), stats)

    async def triton(self) -> None:
        call = self.clients.triton(FP32_MODEL)
        for concurrency in TRITON_CONCURRENCY:
            stats = await run_concurrent(call, self.plan.texts, concurrency)
            self.results.add(key(TRITON, concurrency), stats)

    async def gateway(self) -> None:
        call = self.clients.gateway()
        url = self.services.gateway_metrics_url
        for concurrency in GATEWAY_CONCURRENCY:
            before = gateway_histograms(url)
            stats = await run_concurrent(
                call, self.plan.texts, concurrency, pid=self.services.gateway_pid
            )
            self.results.add(key(GATEWAY, concurrency), stats)
            for name, value in inside_gateway(before, gateway_histograms(url)).items():
                self.results.gateway_inside.setdefault(f"{name}@{concurrency}", []).append(value)

    async def int8(self) -> None:
        if INT8 in self.results.notes:
            return
        call = self.clients.triton(INT8_MODEL)
        for concurrency in INT8_CONCURRENCY:
            stats = await run_concurrent(call, self.plan.texts, concurrency)
            self.results.add(key(INT8, concurrency), stats)

    async def long(self) -> None:
        texts = self.plan.long_texts
        self.results.add(key(LONG_INPROCESS), run_sequential(self.model.predict_one, texts))
        if LONG_TRITON in self.results.notes:
            return
        try:
            stats = await run_concurrent(self.clients.triton(FP32_MODEL), texts, 1)
        except Exception as error:
            reason = refusal(error)
            if reason is None:
                raise
            self.results.notes[LONG_TRITON] = reason
            progress(f"  long reviews refused by Triton: {reason}")
            return
        self.results.add(key(LONG_TRITON), stats)

    def groups(self) -> list[tuple[str, Callable[[], Awaitable[None]]]]:
        return [
            ("in-process", self.inprocess),
            ("triton", self.triton),
            ("gateway", self.gateway),
            ("int8", self.int8),
            ("long", self.long),
        ]

    async def warm_up(self) -> None:
        """Every path once on a few texts (sessions, connections, Triton's first batches)."""
        sample = self.plan.texts[:WARMUP_TEXTS]
        for text in sample[:8]:
            self.model.predict_one(text)
        self.model.predict_many(sample)
        await run_concurrent(self.clients.triton(FP32_MODEL), sample, 4)
        await run_concurrent(self.clients.gateway(), sample, 4)
        if INT8 not in self.results.notes:
            await run_concurrent(self.clients.triton(INT8_MODEL), sample, 4)
        for text in self.plan.long_texts[:2]:
            self.model.predict_one(text)

    async def accuracy(self) -> None:
        """SST-2 dev accuracy of FP32 and INT8 through Triton (concurrency 16)."""
        plan = self.plan
        self.results.accuracy_texts = len(plan.dev_texts)
        models = [FP32_MODEL] + ([] if INT8 in self.results.notes else [INT8_MODEL])
        for model in models:
            answers = await self.clients.labels(model, plan.dev_texts)
            right = sum(
                answer == plan.labels[label]
                for answer, label in zip(answers, plan.dev_labels, strict=True)
            )
            self.results.accuracy[model] = right / max(1, len(answers))

    async def run(self) -> str:
        """Warm up, run the rounds and the accuracy check; returns Triton's version."""
        services = self.services
        self.clients = ServedClients(
            services.triton_grpc_url, services.gateway_url, services.api_key
        )
        if INT8_MODEL not in self.services.loaded or not await self.clients.model_ready(INT8_MODEL):
            self.results.notes[INT8] = "not published"
            progress("sentiment_int8 is not in the repository: INT8 not published")
        try:
            progress("warming up every path")
            await self.warm_up()
            groups = self.groups()
            for number in range(self.plan.rounds):
                shift = number % len(groups)
                order = groups[shift:] + groups[:shift]
                progress(f"round {number + 1}/{self.plan.rounds}: {', '.join(n for n, _ in order)}")
                for _, group in order:
                    await group()
            progress(f"accuracy on {len(self.plan.dev_texts)} SST-2 dev sentences")
            await self.accuracy()
            return await self.clients.server_version()
        finally:
            await self.clients.close()
