"""Device check: do the exported artifacts run on a CUDA GPU and match the CPU results?

Two steps, because the GPU machine has its own (older) torch and onnxruntime and none of
the project's packages:

  1. here:        python scripts/gpu_check.py prepare OUT_DIR
     trains `--preset tiny`, exports it through the real export pipeline, and writes
     OUT_DIR/{model.pt, model.onnx, cases.npz} (serving-shaped batches + eager CPU logits);
  2. on the GPU:  python scripts/gpu_check.py verify OUT_DIR
     loads model.pt with that machine's torch on CUDA and model.onnx with its onnxruntime
     (CUDA provider when present), and compares every batch's logits with the CPU ones.

The native Triton backends of an NGC image use the same libraries (libtorch, ONNX
Runtime), so this checks the file formats and ops they will meet. It is not a test of the
NGC image itself.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

TOLERANCE = 1e-3  # GPU kernels (TF32 off) differ from CPU in the last bits


def prepare(out: Path) -> None:
    import numpy as np
    import torch

    from config.settings import PipelineSettings
    from contract.layout import PIPELINE_FILE
    from contract.pipeline import Pipeline
    from export.golden import golden_texts, serving_batches
    from export.run import export_model_dir
    from training.run import train

    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as state:
        settings = PipelineSettings(state_dir=Path(state))
        result = train(settings, "tiny")
        import mlflow

        model_dir = Path(
            mlflow.artifacts.download_artifacts(
                run_id=result.run_id, artifact_path="model", dst_path=state
            )
        )
        golden = golden_texts(settings.data)
        repository = Path(state) / "repository"
        published = export_model_dir(model_dir, repository, golden)
        version = str(published.version)
        shutil.copy(repository / "sentiment_torchscript" / version / "model.pt", out / "model.pt")
        shutil.copy(repository / "sentiment_onnx" / version / "model.onnx", out / "model.onnx")

        from transformers import AutoTokenizer

        from training.model import load_classifier

        tokenizer = AutoTokenizer.from_pretrained(model_dir)
        eager = load_classifier(model_dir)
        arrays: dict[str, np.ndarray] = {}
        served = Pipeline.read(model_dir / PIPELINE_FILE).served()
        batches = serving_batches(tokenizer, golden, served.length_buckets, served.max_length, 32)
        for i, batch in enumerate(batches):
            with torch.inference_mode():
                logits = eager(
                    input_ids=torch.from_numpy(batch.input_ids),
                    attention_mask=torch.from_numpy(batch.attention_mask),
                ).logits.numpy()
            arrays[f"ids_{i}"] = batch.input_ids
            arrays[f"mask_{i}"] = batch.attention_mask
            arrays[f"logits_{i}"] = logits
        np.savez(out / "cases.npz", **arrays)
    print(f"prepared {len(arrays) // 3} batches in {out}")


def verify(out: Path) -> int:
    import numpy as np
    import onnxruntime as ort
    import torch

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    cases = np.load(out / "cases.npz")
    batches = sorted(int(k.split("_")[1]) for k in cases.files if k.startswith("ids_"))
    report: dict[str, object] = {
        "torch": torch.__version__,
        "cuda": torch.cuda.is_available(),
        "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "onnxruntime": ort.__version__,
        "ort_providers": ort.get_available_providers(),
    }
    device = "cuda" if torch.cuda.is_available() else "cpu"
    scripted = torch.jit.load(str(out / "model.pt"), map_location=device).eval()
    provider = (
        "CUDAExecutionProvider"
        if "CUDAExecutionProvider" in ort.get_available_providers()
        else "CPUExecutionProvider"
    )
    session = ort.InferenceSession(str(out / "model.onnx"), providers=[provider])
    worst = {"torchscript": 0.0, "onnx": 0.0}
    labels_equal = {"torchscript": True, "onnx": True}
    for i in batches:
        ids, mask, expected = cases[f"ids_{i}"], cases[f"mask_{i}"], cases[f"logits_{i}"]
        with torch.inference_mode():
            got = scripted(torch.from_numpy(ids).to(device), torch.from_numpy(mask).to(device))
        results = {
            "torchscript": got.float().cpu().numpy(),
            "onnx": session.run(["logits"], {"input_ids": ids, "attention_mask": mask})[0],
        }
        for name, logits in results.items():
            worst[name] = max(worst[name], float(np.abs(logits - expected).max()))
            labels_equal[name] &= bool((logits.argmax(1) == expected.argmax(1)).all())
    report.update(
        {
            "torchscript_device": device,
            "onnx_provider": session.get_providers()[0],
            "batches": len(batches),
            "max_abs_diff": worst,
            "labels_equal": labels_equal,
        }
    )
    ok = all(v <= TOLERANCE for v in worst.values()) and all(labels_equal.values())
    report["ok"] = ok
    print(json.dumps(report, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("prepare", "verify"):
        print(__doc__)
        sys.exit(2)
    folder = Path(sys.argv[2])
    if sys.argv[1] == "prepare":
        prepare(folder)
    else:
        sys.exit(verify(folder))
