"""The CPU serving choices, measured against each other in one run: what configs/cpu.pbtxt
of the text-in models is based on.

    python -m benchmarks.variants [--repository PATH] [--texts 400] [--long-texts 12]
                                  [--rounds 3]

Copies the published repository's newest version (model files hard-linked; code and
configs from this tree's templates, so uncommitted changes are what is measured) into a
scratch repository with variants of the text-in model `sentiment`, starts one Triton on it, and
sends the same SST-2 sentences one text per call at concurrency 1 and 16 to each variant,
alternating with the in-process baseline round by round (the order rotates each round).
Then the same for ~400-token reviews, one at a time. Prints each variant's median p50 at
concurrency 1 and texts/s at 16, and its median p50 of the reviews, against in-process.

Variants: `one_step` (the shipped CPU config), `one_step_1_thread` (two instances of one
intra-op thread), `one_step_1_instance`, `one_step_spinning` (always),
`one_step_spinning_in_runs` (in every run), `one_step_never_spinning` (`spin_when_alone`
0), `one_step_runs_of_one_length` and `one_step_padding_96` (`max_padding_tokens` 0 and
96 instead of 32), and the GPU layout run on
CPU: `bls` (config.pbtxt: tokenizer and softmax in the Python model, the classifier a
second model called through BLS at the same version).
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import statistics
import tempfile
from pathlib import Path

from benchmarks.clients import ServedClients
from benchmarks.inprocess import InProcessModel
from benchmarks.load import LoadStats, run_concurrent, run_sequential
from benchmarks.services import free_port
from benchmarks.texts import labelled_dev, long_reviews, sentences
from config.settings import PipelineSettings
from contract.layout import (
    CONFIG_FILE,
    CONFIGS_DIR,
    ENSEMBLE,
    ONNX,
    PYTHON_MODEL_FILE,
    TEXT_PIPELINE_FILE,
    latest_version_folder,
)
from export.publish import TEMPLATES, link_or_copy
from serving.tritonserver import CPU_CONFIG_NAME, TritonServer

CPU_CONFIG = f"{CONFIGS_DIR}/{CPU_CONFIG_NAME}.pbtxt"


def _copy_model(source: Path, target: Path, name: str, config: str) -> None:
    """`source`'s newest version as model `name` at `target`, with CPU config `config` and
    the templates' Python code."""
    version = latest_version_folder(source)
    assert version is not None, f"{source} has no version: run `make model`"
    shutil.copytree(version, target / "1", copy_function=link_or_copy)
    for code in (PYTHON_MODEL_FILE, TEXT_PIPELINE_FILE):
        if (target / "1" / code).exists():
            (target / "1" / code).unlink()
            template = TEMPLATES / source.name / code
            shutil.copy2(template if template.exists() else TEMPLATES / code, target / "1" / code)
    for extra in source.glob("*.txt"):  # label files
        shutil.copy2(extra, target / extra.name)
    (target / CONFIGS_DIR).mkdir(parents=True, exist_ok=True)
    (target / CPU_CONFIG).write_text(
        re.sub(r'(?m)^name: ".*"$', f'name: "{name}"', config, count=1)
    )


def _with(config: str, parameters: dict[str, str] | None = None, count: int | None = None) -> str:
    if parameters:
        block = ", ".join(
            f'{{ key: "{k}" value: {{ string_value: "{v}" }} }}' for k, v in parameters.items()
        )
        config = config.replace("instance_group [", f"parameters [ {block} ]\ninstance_group [", 1)
    if count is not None:
        config = re.sub(r"count: \d+", f"count: {count}", config, count=1)
    return config


def build(repository: Path, scratch: Path, only: list[str] | None = None) -> list[str]:
    """The variant repository in `scratch`; returns the variant names (`only` these)."""
    shipped = (TEMPLATES / ENSEMBLE / CPU_CONFIG).read_text()
    one_step = {
        "one_step": shipped,
        "one_step_1_thread": _with(shipped, {"intra_op_thread_count": "1"}),
        "one_step_1_instance": _with(shipped, count=1),
        "one_step_spinning": _with(shipped, {"session.intra_op.allow_spinning": "1"}),
        "one_step_spinning_in_runs": _with(
            shipped,
            {"session.intra_op.allow_spinning": "1", "session.force_spinning_stop": "1"},
        ),
        "one_step_never_spinning": _with(shipped, {"spin_when_alone": "0"}),
        "one_step_runs_of_one_length": _with(shipped, {"max_padding_tokens": "0"}),
        "one_step_padding_96": _with(shipped, {"max_padding_tokens": "96"}),
    }
    one_step = {k: v for k, v in one_step.items() if not only or k in only}
    for name, config in one_step.items():
        _copy_model(repository / ENSEMBLE, scratch / name, name, config)
    if only and "bls" not in only:
        return list(one_step)
    classifier = (TEMPLATES / ONNX / CPU_CONFIG).read_text()
    _copy_model(repository / ONNX, scratch / "bls_onnx", "bls_onnx", classifier)
    bls = (TEMPLATES / ENSEMBLE / CONFIG_FILE).read_text()
    bls = bls.replace(f'string_value: "{ONNX}"', 'string_value: "bls_onnx"')
    _copy_model(repository / ENSEMBLE, scratch / "bls", "bls", bls)
    return [*one_step, "bls"]


LONG = 0
"""The concurrency key of the ~400-token reviews' runs (one at a time)."""


async def measure(
    server: TritonServer,
    model: InProcessModel,
    variants: list[str],
    texts: list[str],
    reviews: list[str],
    rounds: int,
) -> dict[tuple[str, int], list[LoadStats]]:
    clients = ServedClients(server.grpc_url, "127.0.0.1:1", "unused")
    results: dict[tuple[str, int], list[LoadStats]] = {}
    try:
        for name in variants:  # warm every model, and the baseline
            await run_concurrent(clients.triton(name), texts[:32], 4)
        run_sequential(model.predict_one, texts[:32])
        for round_index in range(rounds):
            order = (
                variants[round_index % len(variants) :] + variants[: round_index % len(variants)]
            )
            results.setdefault(("in-process", 1), []).append(
                run_sequential(model.predict_one, texts)
            )
            if reviews:
                results.setdefault(("in-process", LONG), []).append(
                    run_sequential(model.predict_one, reviews)
                )
            for name in order:
                for concurrency in (1, 16):
                    stats = await run_concurrent(clients.triton(name), texts, concurrency)
                    results.setdefault((name, concurrency), []).append(stats)
                if reviews:
                    stats = await run_concurrent(clients.triton(name), reviews, 1)
                    results.setdefault((name, LONG), []).append(stats)
    finally:
        await clients.close()
    return results


def report(results: dict[tuple[str, int], list[LoadStats]]) -> str:
    def median(key: tuple[str, int], field: str) -> float:
        runs = results[key]
        return statistics.median(r.texts_per_s if field == "rate" else r.p50 for r in runs)

    def long(name: str) -> float | None:
        return median((name, LONG), "p50") if (name, LONG) in results else None

    base_rate, base_p50 = median(("in-process", 1), "rate"), median(("in-process", 1), "p50")
    base_long = long("in-process")
    lines = [
        "| path | c=1 p50 ms | vs in-process | c=16 texts/s | vs in-process "
        "| reviews p50 ms | vs in-process |",
        "| --- | --- | --- | --- | --- | --- | --- |",
        f"| in-process, one at a time | {base_p50:.2f} | | {base_rate:.1f} | "
        f"| {base_long or 0:.2f} | |",
    ]
    for name in sorted({name for name, _ in results} - {"in-process"}):
        p50, rate, review = median((name, 1), "p50"), median((name, 16), "rate"), long(name)
        reviews = (
            f"{review:.2f} | {review - base_long:+.2f} ms"
            if review is not None and base_long is not None
            else " | "
        )
        lines.append(
            f"| {name} | {p50:.2f} | {p50 - base_p50:+.2f} ms | {rate:.1f} | "
            f"{rate / base_rate:.2f}x | {reviews} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repository", type=Path)
    parser.add_argument("--texts", type=int, default=400)
    parser.add_argument("--long-texts", type=int, default=12, help="~400-token reviews")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", nargs="+", help="measure only these variants")
    args = parser.parse_args(argv)
    settings = PipelineSettings()
    repository = args.repository or Path(settings.repository_path())
    texts = sentences(settings.data, args.texts)
    with tempfile.TemporaryDirectory(prefix="sentiment-variants-") as folder:
        scratch = Path(folder) / "repository"
        variants = build(repository, scratch, args.only)
        server = TritonServer(
            repository=scratch,
            work_dir=Path(folder) / "triton",
            http_port=free_port(),
            grpc_port=free_port(),
            metrics_port=free_port(),
            config_name=CPU_CONFIG_NAME,
        )
        server.start()
        try:
            server.wait_ready(600)
            model = InProcessModel.from_repository(repository)
            dev, _ = labelled_dev(settings.data)
            reviews = long_reviews(dev, model.count_tokens, args.long_texts)
            results = asyncio.run(measure(server, model, variants, texts, reviews, args.rounds))
        finally:
            server.stop()
    print(
        f"{args.texts} SST-2 sentences and {args.long_texts} ~400-token reviews, one per call, "
        f"median of {args.rounds} rounds\n"
    )
    print(report(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
