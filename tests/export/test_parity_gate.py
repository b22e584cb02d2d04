"""The parity gate's numbers on the tiny model, and its refusals."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from contract.layout import ONNX, ONNX_INT8, TORCHSCRIPT
from export.convert import ExportedModel
from export.errors import ExportError, ParityError
from export.parity import ParityReport, check_parity


def test_torchscript_and_onnx_match_eager_within_tolerance(parity_report: ParityReport) -> None:
    assert parity_report.golden_size >= 256
    assert len(parity_report.sequence_lengths) > 1
    for name in (TORCHSCRIPT, ONNX):
        result = parity_report.models[name]
        assert result.max_abs_diff <= 1e-4
        assert result.label_agreement == 1.0


def test_int8_label_agreement_is_measured(parity_report: ParityReport) -> None:
    result = parity_report.models[ONNX_INT8]
    assert result.max_abs_tolerance is None
    assert result.required_agreement == 0.99
    assert 0.99 <= result.label_agreement <= 1.0
    assert result.max_abs_diff > 0.0  # quantization really changed the arithmetic
    assert parity_report.passed
    assert parity_report.as_dict()["models"][ONNX_INT8]["passed"] is True


def test_perturbed_onnx_raises_parity_error(
    exported: ExportedModel, perturbed_onnx: Path, golden: list[str]
) -> None:
    report = check_parity(replace(exported, onnx=perturbed_onnx), golden)
    assert not report.passed
    assert report.as_dict()["models"][ONNX]["passed"] is False
    with pytest.raises(ParityError) as caught:
        report.check()
    error = caught.value
    assert error.report == report.as_dict()
    assert isinstance(error, ExportError)
    assert error.model == ONNX
    assert error.tolerance == 1e-4
    assert error.worst == pytest.approx(0.5, abs=1e-3)


def test_int8_requirement_is_enforced(exported: ExportedModel, golden: list[str]) -> None:
    strict = replace(exported, settings=replace(exported.settings, int8_min_label_agreement=1.01))
    with pytest.raises(ParityError, match=ONNX_INT8) as caught:
        check_parity(strict, golden[:32]).check()
    assert caught.value.measure == "label agreement"
