"""Names of the served repository's models, files and MLflow artifacts, and how a
repository's numbered version folders are listed (docs/model-repository.md)."""

from __future__ import annotations

from pathlib import Path

TOKENIZER = "sentiment_tokenizer"
ONNX = "sentiment_onnx"
ONNX_INT8 = "sentiment_onnx_int8"
TORCHSCRIPT = "sentiment_torchscript"
POSTPROCESS = "sentiment_postprocess"
ENSEMBLE = "sentiment"
ENSEMBLE_INT8 = "sentiment_int8"

MODELS: tuple[str, ...] = (
    TOKENIZER,
    ONNX,
    ONNX_INT8,
    TORCHSCRIPT,
    POSTPROCESS,
    ENSEMBLE,
    ENSEMBLE_INT8,
)
"""Publish order: the text-in models go last, so they never point at a step without the
version."""
TEXT_MODELS: dict[str, str] = {ENSEMBLE: ONNX, ENSEMBLE_INT8: ONNX_INT8}
"""The text-in models (TEXT -> LABEL, SCORE, PROBABILITIES), each with the classifier it
serves: one Python step that, on CPU, runs the classifier's model.onnx carried in its own
version folder and, on GPU, calls the classifier model through BLS at its own version."""
CLASSIFIER_PARAMETER = "classifier_model"
"""Config parameter of a text-in model's GPU configuration: the classifier it calls
(model_repository/sentiment/model.py reads it under the same name)."""
PYTHON_MODELS: tuple[str, ...] = (TOKENIZER, POSTPROCESS, *TEXT_MODELS)
"""The models whose code (`model.py`), `pipeline.json` and `text_pipeline.py` live in their
version folders (the text models' model.py is their CPU configuration's)."""
PYTHON_MODEL_TEMPLATE: dict[str, str] = {ENSEMBLE_INT8: ENSEMBLE}
"""Python models whose model.py is another model's template (the same code, other files)."""
TEXT_PIPELINE_FILE = "text_pipeline.py"
"""The module every Python model imports (model_repository/text_pipeline.py)."""
SERVED_CLASSIFIER = ONNX
"""The model whose numbers the text-in model `sentiment` serves."""

MODEL_FILE = {ONNX: "model.onnx", ONNX_INT8: "model.onnx", TORCHSCRIPT: "model.pt"}
PYTHON_MODEL_FILE = "model.py"
PIPELINE_FILE = "pipeline.json"
TOKENIZER_DIR = "tokenizer"
METADATA_FILE = "metadata.json"
LABELS_FILE = "labels.txt"
CONFIG_FILE = "config.pbtxt"
CONFIGS_DIR = "configs"

MODEL_ARTIFACT = "model"
"""The MLflow run artifact holding the trained folder (HF model, tokenizer, pipeline.json)."""
REFERENCE_ARTIFACT = "reference/reference.json"
"""The MLflow run artifact holding the drift reference (training.reference)."""

REMOTE_SCHEMES = ("s3://", "gs://", "as://")
"""Repository locations that Triton opens itself (cloud storage it supports)."""


def is_remote(location: str | Path) -> bool:
    """True for a cloud repository URL (s3://, gs://, as://) rather than a local path."""
    return str(location).startswith(REMOTE_SCHEMES)


def is_model_folder(folder: Path) -> bool:
    """A repository entry Triton treats as a model: a folder with config.pbtxt or configs/."""
    return folder.is_dir() and ((folder / CONFIG_FILE).is_file() or (folder / CONFIGS_DIR).is_dir())


def version_folders(model: Path) -> list[Path]:
    """A model folder's numbered version folders, ascending ([] when there is none)."""
    if not model.is_dir():
        return []
    numbered = (p for p in model.iterdir() if p.is_dir() and p.name.isdigit())
    return sorted(numbered, key=lambda p: int(p.name))


def latest_version_folder(model: Path) -> Path | None:
    """The highest numbered version folder of a model folder, or None."""
    folders = version_folders(model)
    return folders[-1] if folders else None
