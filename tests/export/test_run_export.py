"""End to end: registered MLflow model -> published version, and refusals that touch nothing."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from config.settings import PipelineSettings
from contract.layout import MODELS, ONNX
from export import run as run_module
from export.convert import ExportedModel
from export.errors import ExportError, ParityError, RepositoryError
from export.metadata import ModelSource
from export.parity import ParityReport
from export.publish import publish
from export.run import export_model_dir, run_export
from export.settings import ExportSettings
from training.run import TrainResult

Snapshot = Callable[[Path], dict[str, str]]


def test_run_export_publishes_the_newest_registered_version(
    pipeline_settings: PipelineSettings, tiny_run: TrainResult, tmp_path: Path
) -> None:
    settings = pipeline_settings.model_copy(update={"model_repository": str(tmp_path / "repo")})
    published = run_export(settings)
    assert published.version == 1
    assert published.repository == (tmp_path / "repo").resolve()
    assert published.models == list(MODELS)
    metadata = json.loads((tmp_path / "repo" / ONNX / "1" / "metadata.json").read_text())
    assert metadata["mlflow"]["run_id"] == tiny_run.run_id
    assert metadata["mlflow"]["model_version"] == tiny_run.model_version
    run = MlflowClient(settings.tracking_uri()).get_run(tiny_run.run_id)
    assert run.data.metrics[f"parity.{ONNX}.max_abs_diff"] <= 1e-4
    assert run.data.tags["exported_version"] == "1"


def test_unknown_registered_version_is_an_export_error(
    pipeline_settings: PipelineSettings, tiny_run: TrainResult, tmp_path: Path
) -> None:
    settings = pipeline_settings.model_copy(update={"model_repository": str(tmp_path)})
    with pytest.raises(ExportError, match="999"):
        run_export(settings, model_version="999")


def test_s3_repository_is_refused_before_any_work(pipeline_settings: PipelineSettings) -> None:
    settings = pipeline_settings.model_copy(update={"model_repository": "s3://models/sentiment"})
    with pytest.raises(RepositoryError, match=r"(?i)publish to a local path"):
        run_export(settings)


def test_parity_failure_leaves_the_repository_byte_identical(
    tiny_model_dir: Path,
    exported: ExportedModel,
    parity_report: ParityReport,
    perturbed_onnx: Path,
    golden: list[str],
    templates: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    snapshot: Snapshot,
) -> None:
    repository = tmp_path / "repo"
    publish(exported, parity_report, repository, ModelSource(run_id="first"), templates)
    before = snapshot(repository)

    def perturbed_conversion(
        model_dir: Path,
        workdir: Path,
        settings: ExportSettings,
        calibration: Sequence[str] | None = None,
    ) -> ExportedModel:  # the session's conversion (run_export's test covers a real one)
        return replace(exported, onnx=perturbed_onnx)

    monkeypatch.setattr(run_module, "convert", perturbed_conversion)
    with pytest.raises(ParityError) as caught:
        export_model_dir(tiny_model_dir, repository, golden[:64], templates=templates)
    assert caught.value.model == ONNX
    assert snapshot(repository) == before


def test_failed_parity_report_is_logged_and_stored_before_the_export_stops(
    pipeline_settings: PipelineSettings,
    tiny_run: TrainResult,
    exported: ExportedModel,
    perturbed_onnx: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def perturbed_conversion(
        model_dir: Path,
        workdir: Path,
        settings: ExportSettings,
        calibration: Sequence[str] | None = None,
    ) -> ExportedModel:
        return replace(exported, onnx=perturbed_onnx)

    monkeypatch.setattr(run_module, "convert", perturbed_conversion)
    settings = pipeline_settings.model_copy(update={"model_repository": str(tmp_path / "repo")})
    with caplog.at_level("ERROR", logger="export.run"), pytest.raises(ParityError):
        run_export(settings)
    assert any("parity gate failed" in record.getMessage() for record in caplog.records)
    client = MlflowClient(settings.tracking_uri())
    stored = [a.path for a in client.list_artifacts(tiny_run.run_id, "export")]
    failed = [path for path in stored if "parity_failed_" in path]
    assert failed, stored
    report = json.loads(Path(client.download_artifacts(tiny_run.run_id, failed[-1])).read_text())
    assert report["models"][ONNX]["passed"] is False
    assert ONNX in client.get_run(tiny_run.run_id).data.tags["parity_failed"]
    assert not (tmp_path / "repo" / ONNX / "1").exists()
