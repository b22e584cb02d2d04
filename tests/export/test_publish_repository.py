"""Publishing: version numbers, rendered configs, metadata, atomicity and refusals."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2

from contract.layout import (
    CONFIG_FILE,
    LABELS_FILE,
    MODELS,
    ONNX,
    ONNX_INT8,
    PIPELINE_FILE,
    PYTHON_MODELS,
    TEXT_MODELS,
    TOKENIZER,
    TORCHSCRIPT,
)
from contract.pipeline import LABELS, Pipeline, padding_lengths
from export import publish as publish_module
from export.convert import ExportedModel
from export.errors import RepositoryError
from export.metadata import ModelSource, file_digests, manifest_digest
from export.parity import ParityReport
from export.publish import TEMPLATES, existing_versions, next_version, publish

SOURCE = ModelSource(run_id="run-abc123", model_name="sentiment-classifier", model_version="4")
Snapshot = Callable[[Path], dict[str, str]]


def parse_config(path: Path) -> model_config_pb2.ModelConfig:
    return text_format.Parse(path.read_text(), model_config_pb2.ModelConfig())


def test_versions_increment_across_publishes(
    exported: ExportedModel, parity_report: ParityReport, templates: Path, tmp_path: Path
) -> None:
    repository = tmp_path / "repo"
    first = publish(exported, parity_report, repository, SOURCE, templates)
    second = publish(exported, parity_report, str(repository), SOURCE, templates)
    assert (first.version, second.version) == (1, 2)
    assert second.models == list(MODELS)
    assert existing_versions(repository) == [1, 2]
    for model in MODELS:
        assert sorted(p.name for p in (repository / model).iterdir() if p.name.isdigit()) == [
            "1",
            "2",
        ]
    assert not [p for p in repository.iterdir() if p.name.startswith(".")]  # no staging left


def test_next_version_is_above_every_model(tmp_path: Path) -> None:
    (tmp_path / TORCHSCRIPT / "7").mkdir(parents=True)
    (tmp_path / ONNX / "3").mkdir(parents=True)
    assert next_version(tmp_path) == 8


def test_metadata_and_configs_carry_run_id_and_digests(
    exported: ExportedModel, parity_report: ParityReport, templates: Path, tmp_path: Path
) -> None:
    published = publish(exported, parity_report, tmp_path, SOURCE, templates)
    version = str(published.version)
    digests: dict[str, str] = {}
    for model in MODELS:
        folder = tmp_path / model / version
        metadata = json.loads((folder / "metadata.json").read_text())
        assert metadata["mlflow"] == {
            "run_id": "run-abc123",
            "model_name": "sentiment-classifier",
            "model_version": "4",
        }
        assert metadata["parity"] == published.parity
        assert metadata["export_settings"]["opset"] == 18
        on_disk = file_digests(folder)
        assert metadata["files"] == on_disk and on_disk
        if model in TEXT_MODELS:  # the classifier it serves, the same bytes
            classifier = file_digests(tmp_path / TEXT_MODELS[model] / version)
            assert on_disk["model.onnx"] == classifier["model.onnx"]
        digests[model] = manifest_digest(metadata["files"])
        assert metadata["sha256"] == digests[model]
        for config_name in ("config.pbtxt", "configs/cpu.pbtxt"):
            config = parse_config(tmp_path / model / config_name)
            assert config.name == model and config.max_batch_size == 64
            parameters = {k: v.string_value for k, v in config.parameters.items()}
            assert parameters["version"] == version
            assert parameters["mlflow_run_id"] == "run-abc123"
            assert parameters["mlflow_model_version"] == "4"
            assert parameters["sha256"] == digests[model]
            assert float(parameters["parity_label_agreement"]) == 1.0
    onnx_meta = json.loads((tmp_path / ONNX / version / "metadata.json").read_text())
    assert set(onnx_meta["files"]) == {"model.onnx"}
    assert onnx_meta["files"]["model.onnx"] == file_digests(exported.onnx.parent)["model.onnx"]
    tokenizer_files = set(file_digests(tmp_path / TOKENIZER / version))
    assert {"model.py", "pipeline.json", "tokenizer/tokenizer.json"} <= tokenizer_files


def test_gpu_and_cpu_configs_differ_only_in_placement(
    exported: ExportedModel, parity_report: ParityReport, templates: Path, tmp_path: Path
) -> None:
    publish(exported, parity_report, tmp_path, SOURCE, templates)
    gpu = parse_config(tmp_path / ONNX / "config.pbtxt")
    cpu = parse_config(tmp_path / ONNX / "configs/cpu.pbtxt")
    assert gpu.instance_group[0].kind == model_config_pb2.ModelInstanceGroup.KIND_GPU
    assert cpu.instance_group[0].kind == model_config_pb2.ModelInstanceGroup.KIND_CPU
    accelerator = gpu.optimization.execution_accelerators.gpu_execution_accelerator[0]
    assert accelerator.name == "tensorrt"
    assert accelerator.parameters["precision_mode"] == "FP16"
    assert not cpu.optimization.execution_accelerators.gpu_execution_accelerator
    # One CPU instance: no queue delay, no preferred sizes (batches form while it runs).
    assert cpu.HasField("dynamic_batching") and not cpu.dynamic_batching.preferred_batch_size
    assert cpu.dynamic_batching.max_queue_delay_microseconds == 0
    policy = cpu.dynamic_batching.default_queue_policy
    assert policy.timeout_action == model_config_pb2.ModelQueuePolicy.REJECT
    for model, classifier in TEXT_MODELS.items():  # BLS to the GPU classifier; CPU: in-process
        gpu_text = parse_config(tmp_path / model / "config.pbtxt")
        assert gpu_text.backend == "python"
        assert gpu_text.parameters["classifier_model"].string_value == classifier
        fused = parse_config(tmp_path / model / "configs/cpu.pbtxt")
        assert fused.backend == "python" and fused.HasField("dynamic_batching")
        assert "classifier_model" not in fused.parameters
        assert [t.name for t in fused.output] == [t.name for t in gpu_text.output]
        assert [t.name for t in fused.input] == [t.name for t in gpu_text.input]


def test_failure_during_commit_restores_the_repository(
    exported: ExportedModel,
    parity_report: ParityReport,
    templates: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    snapshot: Snapshot,
) -> None:
    publish(exported, parity_report, tmp_path, SOURCE, templates)
    before = snapshot(tmp_path)
    real_replace = os.replace
    calls = []

    def failing_replace(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        calls.append(dst)
        if len(calls) == 9:  # mid-way: some versions and configs already moved
            raise OSError("disk full")
        real_replace(src, dst)

    monkeypatch.setattr(publish_module.os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        publish(exported, parity_report, tmp_path, SOURCE, templates)
    assert len(calls) > 9  # the rollback ran through os.replace too
    assert snapshot(tmp_path) == before


def test_s3_repository_is_refused_with_advice(
    exported: ExportedModel, parity_report: ParityReport, templates: Path
) -> None:
    with pytest.raises(RepositoryError, match=r"s3://bucket/models.*sync"):
        publish(exported, parity_report, "s3://bucket/models", SOURCE, templates)


def test_missing_python_model_template_is_refused(
    exported: ExportedModel,
    parity_report: ParityReport,
    templates: Path,
    tmp_path: Path,
    snapshot: Snapshot,
) -> None:
    broken = tmp_path / "templates"
    shutil.copytree(templates, broken)
    (broken / TOKENIZER / "model.py").unlink()
    repository = tmp_path / "repo"
    with pytest.raises(RepositoryError, match=r"model\.py"):
        publish(exported, parity_report, repository, SOURCE, broken)
    assert snapshot(repository) == {}


def test_label_files_and_pipeline_json_come_from_the_contract(
    exported: ExportedModel, parity_report: ParityReport, templates: Path, tmp_path: Path
) -> None:
    renamed = replace(exported, pipeline=replace(exported.pipeline, labels=("bad", "good")))
    published = publish(renamed, parity_report, tmp_path, SOURCE, templates)
    version = str(published.version)
    assert not list(TEMPLATES.rglob(LABELS_FILE))  # labels live in the contract only
    with_labels = set()
    for model in MODELS:
        configs = [tmp_path / model / CONFIG_FILE, tmp_path / model / "configs/cpu.pbtxt"]
        named = {o.label_filename for c in configs for o in parse_config(c).output}
        if LABELS_FILE in named:
            with_labels.add(model)
            assert (tmp_path / model / LABELS_FILE).read_text().split() == ["bad", "good"]
        else:
            assert not (tmp_path / model / LABELS_FILE).exists()
    assert with_labels == {ONNX, ONNX_INT8, TORCHSCRIPT}
    for model in PYTHON_MODELS:
        pipeline = Pipeline.read(tmp_path / model / version / PIPELINE_FILE)
        assert pipeline == renamed.pipeline and pipeline.is_current
        assert pipeline.labels == ("bad", "good")
    tokenizer = tmp_path / TOKENIZER / version / pipeline.tokenizer_dir / "tokenizer.json"
    assert tokenizer.is_file()


def test_the_project_exports_the_contract_labels(exported: ExportedModel) -> None:
    assert exported.labels == LABELS
    assert exported.pipeline.length_buckets == padding_lengths(exported.max_length)
