"""`sentiment export`: registered MLflow model -> exported files -> parity gate -> publish."""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import mlflow
from mlflow.entities import Metric
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from config.settings import PipelineSettings
from contract.layout import MODEL_ARTIFACT
from export.convert import convert
from export.errors import ExportError, ParityError
from export.golden import golden_texts
from export.metadata import ModelSource
from export.parity import check_parity
from export.publish import TEMPLATES, PublishedVersion, publish, resolve_repository
from export.settings import ExportSettings
from export.smoothing import calibration_texts
from training import tracking

log = logging.getLogger(__name__)


def export_model_dir(
    model_dir: Path,
    repository: str | os.PathLike[str],
    golden: Sequence[str],
    source: ModelSource | None = None,
    settings: ExportSettings | None = None,
    templates: Path = TEMPLATES,
    calibration: Sequence[str] | None = None,
    serve: bool = False,
) -> PublishedVersion:
    """Export a trained model folder, check parity on `golden`, publish into `repository`.

    `calibration` (SST-2 train sentences) smooths the model the INT8 file is quantized
    from (export.smoothing); without it INT8 is quantized from the plain ONNX export.

    Raises ExportError (ParityError when a model misses its tolerance) and then leaves the
    repository as it was.
    """
    settings = settings or ExportSettings()
    resolve_repository(repository)  # refuse s3:// before minutes of conversion
    with tempfile.TemporaryDirectory(prefix="sentiment-export-") as workdir:
        exported = convert(Path(model_dir), Path(workdir), settings, calibration)
        report = check_parity(exported, golden)
        if not report.passed:
            log.error("parity gate failed: %s", json.dumps(report.as_dict(), sort_keys=True))
        report.check()
        return publish(exported, report, repository, source, templates, serve=serve)


def resolve_model_version(client: MlflowClient, name: str, version: str | None) -> ModelSource:
    """The registered version `version` of `name`, or its newest version when None."""
    try:
        if version is None:
            versions = client.search_model_versions(f"name = '{name}'")
            if not versions:
                raise ExportError(f"registered model {name!r} has no versions: train one first")
            chosen = max(versions, key=lambda v: int(v.version))
        else:
            chosen = client.get_model_version(name, version)
    except MlflowException as error:
        raise ExportError(f"cannot resolve {name!r} version {version}: {error}") from error
    return ModelSource(run_id=chosen.run_id, model_name=name, model_version=str(chosen.version))


def run_export(
    settings: PipelineSettings, model_version: str | None = None, serve: bool = False
) -> PublishedVersion:
    """Export a registered version (default: the newest) of `settings.registered_model`
    into `settings.repository_path()`, and log the parity results to its MLflow run.
    `serve`: the new version replaces the served one at once (see `publish`)."""
    repository = settings.repository_path()
    resolve_repository(repository)
    client = tracking.connect(settings)
    source = resolve_model_version(client, settings.registered_model, model_version)
    golden = golden_texts(settings.data)
    export_settings = ExportSettings()
    calibration = calibration_texts(
        settings.data, export_settings.int8_calibration_size, export_settings.int8_calibration_seed
    )
    with tempfile.TemporaryDirectory(prefix="sentiment-model-") as folder:
        if source.run_id is None:
            raise ExportError(f"model version {source.model_version} has no MLflow run")
        try:
            local = mlflow.artifacts.download_artifacts(
                run_id=source.run_id, artifact_path=MODEL_ARTIFACT, dst_path=folder
            )
        except MlflowException as error:
            problem = f"cannot download the model of run {source.run_id}: {error}"
            raise ExportError(problem) from error
        try:
            published = export_model_dir(
                Path(local),
                repository,
                golden,
                source,
                export_settings,
                calibration=calibration,
                serve=serve,
            )
        except ParityError as error:
            _log_parity_failure(client, source.run_id, error)
            raise
    _log_parity(client, source.run_id, published)
    return published


def _log_parity_failure(client: MlflowClient, run_id: str, error: ParityError) -> None:
    """Store a failed gate's report in the model's MLflow run (best effort: it is logged)."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    try:
        client.log_dict(run_id, error.report or {}, f"export/parity_failed_{stamp}.json")
        client.set_tag(run_id, "parity_failed", str(error))
    except MlflowException:
        log.warning("could not store the failed parity report in run %s", run_id, exc_info=True)


def _log_parity(client: MlflowClient, run_id: str, published: PublishedVersion) -> None:
    """Best effort: the version is already published, so a tracking hiccup only warns."""
    report: dict = published.parity
    now = int(time.time() * 1000)
    metrics = [
        Metric(f"parity.{name}.{measure}", result[measure], now, published.version)
        for name, result in report["models"].items()
        for measure in ("max_abs_diff", "label_agreement")
    ]
    try:
        client.log_batch(run_id, metrics=metrics)
        client.log_dict(run_id, report, f"export/parity_v{published.version}.json")
        client.set_tag(run_id, "exported_version", str(published.version))
    except MlflowException:
        log.warning("could not log parity results to MLflow run %s", run_id, exc_info=True)
