"""The CPU serving choices, measured against each other in one run: what configs/cpu.pbtxt
of the text-in models is based on.

    python -m benchmarks.variants [--repository PATH] [--texts 400] [--rounds 3]

Copies the published repository's newest version (model files hard-linked; code and
configs from this tree's templates, so uncommitted changes are what is measured) into a
scratch repository with variants of the text-in model `sentiment`, starts one Triton on it, and
sends the same SST-2 sentences one text per call at concurrency 1 and 16 to each variant,
alternating with the in-process baseline round by round (the order rotates each round).
Prints each variant's median p50 at concurrency 1 and texts/s at 16, against in-process.

Variants: `one_step` (the shipped CPU config), `one_step_1_thread` (two instances of one
intra-op thread), `one_step_1_instance`, `one_step_spinning`, and the GPU layout run on
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
from benchmarks.texts import sentences
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


def build(repository: Path, scratch: Path) -> list[str]:
    """The variant repository in `scratch`; returns the variant names."""
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
    }
    for name, config in one_step.items():
        _copy_model(repository / ENSEMBLE, scratch / name, name, config)
    classifier = (TEMPLATES / ONNX / CPU_CONFIG).read_text()
    _copy_model(repository / ONNX, scratch / "bls_onnx", "bls_onnx", classifier)
    bls = (TEMPLATES / ENSEMBLE / CONFIG_FILE).read_text()
    bls = bls.replace(f'string_value: "{ONNX}"', 'string_value: "bls_onnx"')
    _copy_model(repository / ENSEMBLE, scratch / "bls", "bls", bls)
    return [*one_step, "bls"]


async def measure(
    server: TritonServer, model: InProcessModel, variants: list[str], texts: list[str], rounds: int
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
            for name in order:
                for concurrency in (1, 16):
                    stats = await run_concurrent(clients.triton(name), texts, concurrency)
                    results.setdefault((name, concurrency), []).append(stats)
    finally:
        await clients.close()
    return results


def report(results: dict[tuple[str, int], list[LoadStats]]) -> str:
    def median(key: tuple[str, int], field: str) -> float:
        runs = results[key]
        return statistics.median(r.texts_per_s if field == "rate" else r.p50 for r in runs)

    base_rate, base_p50 = median(("in-process", 1), "rate"), median(("in-process", 1), "p50")
    lines = [
        "| path | c=1 p50 ms | vs in-process | c=16 texts/s | vs in-process |",
        "| --- | --- | --- | --- | --- |",
        f"| in-process, one at a time | {base_p50:.2f} | | {base_rate:.1f} | |",
    ]
    for name in sorted({name for name, _ in results} - {"in-process"}):
        p50, rate = median((name, 1), "p50"), median((name, 16), "rate")
        lines.append(
            f"| {name} | {p50:.2f} | {p50 - base_p50:+.2f} ms | {rate:.1f} | "
            f"{rate / base_rate:.2f}x |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repository", type=Path)
    parser.add_argument("--texts", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    settings = PipelineSettings()
    repository = args.repository or Path(settings.repository_path())
    texts = sentences(settings.data, args.texts)
    with tempfile.TemporaryDirectory(prefix="sentiment-variants-") as folder:
        scratch = Path(folder) / "repository"
        variants = build(repository, scratch)
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
            results = asyncio.run(measure(server, model, variants, texts, args.rounds))
        finally:
            server.stop()
    print(f"{args.texts} SST-2 sentences, one per call, median of {args.rounds} rounds\n")
    print(report(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
