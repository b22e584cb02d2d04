"""The training reference a window is compared with: `reference/reference.json` of the
MLflow run that trained the served model (saved by `training.run`)."""

from __future__ import annotations

import json
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd

# The pipeline contract's names (a leaf package: reading them loads no torch).
from contract.features import FEATURES
from contract.layout import REFERENCE_ARTIFACT
from contract.pipeline import LABELS

PREDICTION_COLUMNS = ("label", "confidence")
"""Prediction drift: predicted label shares and the predicted label's probability."""


class DriftReferenceError(RuntimeError):
    """The reference statistics could not be found or read."""


@lru_cache(maxsize=8)
def _download(tracking_uri: str, run_id: str) -> str:
    from mlflow.artifacts import download_artifacts
    from mlflow.exceptions import MlflowException

    with tempfile.TemporaryDirectory() as folder:
        try:
            path = download_artifacts(
                run_id=run_id,
                artifact_path=REFERENCE_ARTIFACT,
                dst_path=folder,
                tracking_uri=tracking_uri,
            )
        except MlflowException as error:
            message = f"no {REFERENCE_ARTIFACT} in MLflow run {run_id}: {error}"
            raise DriftReferenceError(message) from None
        return Path(path).read_text()


def load_reference(tracking_uri: str, run_id: str) -> dict[str, Any]:
    """The run's reference document (cached per run: `--every` reads it once)."""
    return dict(json.loads(_download(tracking_uri, run_id)))


def reference_frame(reference: dict[str, Any]) -> pd.DataFrame:
    """Reference rows with the columns of `window.load_samples`: the four text features,
    the *predicted* label's name and the model's confidence in it."""
    rows = reference.get("rows") or []
    if not rows:
        raise DriftReferenceError("the reference document holds no rows")
    frame = pd.DataFrame(rows)
    missing = {*FEATURES, "prediction", "confidence"} - set(frame.columns)
    if missing:
        raise DriftReferenceError(f"reference rows lack {sorted(missing)}")
    frame["label"] = [LABELS[int(i)] for i in frame["prediction"]]
    return frame[[*FEATURES, *PREDICTION_COLUMNS]]
