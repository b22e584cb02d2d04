"""Evidently's verdict on a window: data drift of the text features, prediction drift.

Two `DataDriftPreset`s in one report: the four text features decide `dataset_drift`
(at least `drift_share` of them drifted), label shares and confidence decide
`prediction_drift` (either drifted). Every numerical column uses the two-sample K-S test:
the share features are mostly zero on SST-2, and Evidently's automatic choice would treat
such a column as binary and compare it category by category.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from contract.features import FEATURES
from monitoring.reference import PREDICTION_COLUMNS

NUMERICAL_METHOD = "ks"
CONFIDENCE_DECIMALS = 3
"""Confidence is compared at 0.001 resolution. The reference comes from eager PyTorch, the
window from ONNX in Triton with bucket padding: they differ by ~1e-6, and a K-S test on a
narrow confidence distribution (an untrained or very sure model) would call that drift."""


@dataclass(frozen=True)
class FeatureScore:
    """One column's drift test: Evidently's score (a p-value for K-S and Z tests: lower
    means more different) against its threshold."""

    score: float
    method: str
    threshold: float
    drifted: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "score": self.score,
            "method": self.method,
            "threshold": self.threshold,
            "drifted": self.drifted,
        }


@dataclass
class Evaluation:
    dataset_drift: bool
    drift_share: float
    prediction_drift: bool
    features: dict[str, FeatureScore]
    snapshot: Any = field(repr=False)
    """The Evidently run (`save_html`, `save_json`)."""


def _data_definition() -> Any:
    from evidently import DataDefinition

    return DataDefinition(
        numerical_columns=[*FEATURES, "confidence"], categorical_columns=["label"]
    )


def evaluate(current: pd.DataFrame, reference: pd.DataFrame, drift_share: float) -> Evaluation:
    """Run the Evidently report on `current` against `reference` (same columns)."""
    from evidently import Dataset, Report
    from evidently.presets import DataDriftPreset

    columns = [*FEATURES, *PREDICTION_COLUMNS]
    definition = _data_definition()
    methods = {name: NUMERICAL_METHOD for name in [*FEATURES, "confidence"]}
    report = Report(
        [
            DataDriftPreset(
                columns=list(FEATURES), drift_share=drift_share, per_column_method=methods
            ),
            DataDriftPreset(
                columns=list(PREDICTION_COLUMNS), drift_share=0.5, per_column_method=methods
            ),
        ]
    )
    current, reference = current[columns].copy(), reference[columns].copy()
    for frame in (current, reference):
        frame["confidence"] = frame["confidence"].round(CONFIDENCE_DECIMALS)
    with warnings.catch_warnings():  # numpy warns on constant columns' correlations
        warnings.simplefilter("ignore", RuntimeWarning)
        snapshot = report.run(
            Dataset.from_pandas(current, data_definition=definition),
            Dataset.from_pandas(reference, data_definition=definition),
        )
    scores: dict[str, FeatureScore] = {}
    shares: dict[tuple[str, ...], float] = {}
    for metric in snapshot.dict()["metrics"]:
        config = metric["config"]
        if config["type"].endswith(":ValueDrift"):
            threshold = float(config["threshold"])
            score = float(metric["value"])
            method = _display_name(str(config["method"]), config["column"] == "label")
            scores[config["column"]] = FeatureScore(
                score=score,
                method=method,
                threshold=threshold,
                drifted=_drifted(method, score, threshold),
            )
        elif config["type"].endswith(":DriftedColumnsCount"):
            shares[tuple(config["columns"])] = float(metric["value"]["share"])
    share = shares[tuple(FEATURES)]
    return Evaluation(
        dataset_drift=share >= drift_share,
        drift_share=share,
        prediction_drift=any(scores[c].drifted for c in PREDICTION_COLUMNS),
        features={name: scores[name] for name in columns},
        snapshot=snapshot,
    )


def _display_name(method: str, categorical: bool) -> str:
    """`ks` -> `K-S p_value`: the config names a method we chose by its registry id, one
    Evidently chose by its display name; only the display name says p-value or distance."""
    from evidently.legacy.calculations.stattests.registry import get_registered_stattest
    from evidently.legacy.core import ColumnType

    kind = ColumnType.Categorical if categorical else ColumnType.Numerical
    try:
        return str(get_registered_stattest(method, kind).display_name)
    except ValueError:  # already a display name
        return method


def _drifted(method: str, score: float, threshold: float) -> bool:
    """Evidently's rule: p-value tests drift at or below the threshold (K-S: `<=`; others
    `<`, a tie that continuous data does not produce), distances at or above it."""
    return score <= threshold if "p_value" in method else score >= threshold
