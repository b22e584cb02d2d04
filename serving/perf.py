"""perf_analyzer against a running text-in model, fed with real SST-2 dev sentences.

perf_analyzer is the C++ binary in the manylinux wheel of tritonclient 2.51 (installed into
the venv's `bin/`). It links against `libb64.so.0d` (Debian `libb64-0d`) and
`libcudart.so.12` (PyPI `nvidia-cuda-runtime-cu12`), which `perf_environment()` puts on
LD_LIBRARY_PATH. Run with `sentiment perf [perf_analyzer options...]`.

The maintained `perf-analyzer` package (2.58-2.60) is not used: its wheels are
`manylinux_2_38` and its binary needs glibc 2.38 and GLIBCXX_3.4.32, newer than Debian 12's
(docs/benchmarks.md, "which perf_analyzer").
"""

from __future__ import annotations

import ctypes.util
import json
import os
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Sequence
from pathlib import Path

from config.settings import PipelineSettings


class PerfAnalyzerError(RuntimeError):
    """perf_analyzer or one of its libraries is missing."""


def find_perf_analyzer() -> Path:
    """The perf_analyzer binary: venv bin/, the tritonclient wheel's data dir, or PATH."""
    site = Path(sysconfig.get_paths()["purelib"])
    candidates = [
        Path(sys.executable).parent / "perf_analyzer",
        *sorted(site.glob("tritonclient-*.data/data/bin/perf_analyzer")),
    ]
    found = shutil.which("perf_analyzer")
    if found:
        candidates.append(Path(found))
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise PerfAnalyzerError(
        "perf_analyzer not found: install the manylinux wheel of tritonclient[all]==2.51.0"
    )


def perf_environment() -> dict[str, str]:
    """The environment perf_analyzer needs: libcudart.so.12 from the wheel, libb64 checked."""
    if ctypes.util.find_library("b64") is None:
        raise PerfAnalyzerError("libb64.so.0d missing: apt-get install libb64-0d")
    site = Path(sysconfig.get_paths()["purelib"])
    cudart = site / "nvidia" / "cuda_runtime" / "lib"
    if not (cudart / "libcudart.so.12").is_file():
        raise PerfAnalyzerError(
            f"libcudart.so.12 missing in {cudart}: pip install nvidia-cuda-runtime-cu12"
        )
    env = dict(os.environ)
    env["LD_LIBRARY_PATH"] = os.pathsep.join(
        p for p in (str(cudart), env.get("LD_LIBRARY_PATH", "")) if p
    )
    return env


def write_input_data(texts: Sequence[str], path: Path, input_name: str = "TEXT") -> Path:
    """perf_analyzer `--input-data` JSON: one STRING [1] request per text."""
    data = [{input_name: {"content": [text], "shape": [1]}} for text in texts]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"data": data}))
    return path


def dev_sentences(settings: PipelineSettings, limit: int | None = None) -> list[str]:
    """SST-2 dev sentences (all 872 unless `limit`)."""
    from training.data import load_sst2

    sentences = list(load_sst2(settings.data)["dev"]["sentence"])
    return sentences[:limit] if limit else sentences


def perf_command(
    input_data: Path,
    url: str,
    model: str = "sentiment",
    protocol: str = "grpc",
    extra: Sequence[str] = (),
) -> list[str]:
    """The perf_analyzer command line for `model` with the given input data."""
    return [
        str(find_perf_analyzer()),
        "-m",
        model,
        "-u",
        url,
        "-i",
        protocol,
        f"--input-data={input_data}",
        *extra,
    ]


def run_perf(
    settings: PipelineSettings,
    url: str,
    model: str = "sentiment",
    protocol: str = "grpc",
    sentences: int | None = None,
    extra: Sequence[str] = (),
) -> int:
    """Write the input data from SST-2 dev and run perf_analyzer; its exit code.

    `extra` goes to perf_analyzer as given (default: `--concurrency-range 1:4`).
    """
    data = write_input_data(
        dev_sentences(settings, sentences), settings.state_dir / "perf" / "sst2_dev.json"
    )
    command = perf_command(
        data, url, model, protocol, list(extra) or ["--concurrency-range", "1:4"]
    )
    environment = perf_environment()
    print(" ".join(command), flush=True)
    return subprocess.run(command, env=environment, check=False).returncode
