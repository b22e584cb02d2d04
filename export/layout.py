"""Names of the served repository's models and files (docs/model-repository.md)."""

from __future__ import annotations

from pathlib import Path

TOKENIZER = "sentiment_tokenizer"
ONNX = "sentiment_onnx"
ONNX_INT8 = "sentiment_onnx_int8"
TORCHSCRIPT = "sentiment_torchscript"
POSTPROCESS = "sentiment_postprocess"
ENSEMBLE = "sentiment"

# Publish order: the ensemble goes last, so it never points at a step without the version.
MODELS: tuple[str, ...] = (TOKENIZER, ONNX, ONNX_INT8, TORCHSCRIPT, POSTPROCESS, ENSEMBLE)
PYTHON_MODELS: tuple[str, ...] = (TOKENIZER, POSTPROCESS)
# The model whose numbers the ensemble (and its python steps) serve.
SERVED_CLASSIFIER = ONNX

MODEL_FILE = {ONNX: "model.onnx", ONNX_INT8: "model.onnx", TORCHSCRIPT: "model.pt"}
PYTHON_MODEL_FILE = "model.py"
PIPELINE_FILE = "pipeline.json"
TOKENIZER_DIR = "tokenizer"
METADATA_FILE = "metadata.json"
LABELS_FILE = "labels.txt"
CONFIG_FILE = "config.pbtxt"

TEMPLATES = Path(__file__).resolve().parent.parent / "model_repository"
"""The reviewed templates in git: configs, labels and the python models' model.py."""
