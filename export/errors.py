"""The export component's errors: one base class, one subclass per way an export fails."""

from __future__ import annotations

from typing import Any


class ExportError(Exception):
    """Base class: the export did not produce a publishable model version."""


class ConversionError(ExportError):
    """A model format (TorchScript, ONNX, INT8 ONNX) could not be produced from the model."""


class ParityError(ExportError):
    """An exported model disagrees with the eager PyTorch reference beyond its tolerance."""

    def __init__(
        self,
        model: str,
        measure: str,
        worst: float,
        tolerance: float,
        report: dict[str, Any] | None = None,
    ) -> None:
        self.model = model
        self.measure = measure
        self.worst = worst
        self.tolerance = tolerance
        self.report = report
        """The whole parity report (JSON-ready), for logging and storing the failure."""
        super().__init__(
            f"{model} fails the parity gate: {measure} is {worst:.6g}, tolerance {tolerance:.6g}"
        )


class RepositoryError(ExportError):
    """The model repository cannot be published to (unsupported location, bad templates)."""
