"""A newly published version loads into the running server without a restart."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from config.settings import PipelineSettings
from config.triton import TritonSettings
from export.publish import PublishedVersion
from export.run import export_model_dir
from serving.inventory import inventory, render
from serving.tritonserver import TritonServer, load_models

pytestmark = pytest.mark.triton

TEXT = np.array([[b"an utterly charming and moving film"]], dtype=np.object_)


def shifted_model(model_dir: Path, target: Path, shift: float) -> Path:
    """A copy of the model whose positive-class bias is raised by `shift`."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(model_dir)
    with torch.no_grad():
        model.classifier.bias[1] += shift
    model.save_pretrained(target)
    AutoTokenizer.from_pretrained(model_dir).save_pretrained(target)
    shutil.copy2(model_dir / "pipeline.json", target / "pipeline.json")
    return target


def served_versions(client) -> dict[str, str]:
    index = client.client.get_model_repository_index()
    return {m["name"]: m.get("version", "") for m in index if m.get("state") == "READY"}


def test_inventory_reports_repository_and_server(
    triton: TritonServer, published: PublishedVersion, serving_repository: Path, tmp_path: Path
) -> None:
    settings = PipelineSettings(
        state_dir=tmp_path,
        model_repository=str(serving_repository),
        triton=TritonSettings(http_port=triton.http_port),
    )
    report = inventory(settings)
    assert report.repository.latest_version == published.version
    assert {m.name for m in report.repository.models} == set(published.models)
    assert report.server.ready is True
    assert {m.name for m in report.server.models if m.ready} == set(published.models)
    text = render(report)
    assert "sentiment_onnx_int8" in text and "ready" in text


def test_new_version_loads_without_restart(
    clients,
    triton: TritonServer,
    published: PublishedVersion,
    serving_repository: Path,
    tiny_model_dir: Path,
    golden: list[str],
    tmp_path: Path,
) -> None:
    client = clients["grpc"]
    before = client.infer("sentiment", {"TEXT": TEXT}, ["PROBABILITIES"])["PROBABILITIES"]
    shifted = shifted_model(tiny_model_dir, tmp_path / "shifted", shift=2.0)
    new = export_model_dir(shifted, serving_repository, golden[:16])
    assert new.version == published.version + 1
    settings = PipelineSettings(
        state_dir=tmp_path,
        model_repository=str(serving_repository),
        triton=TritonSettings(http_port=triton.http_port),
    )
    try:
        loaded = load_models(settings, new.models)
        assert sorted(loaded) == sorted(new.models) and loaded[-1] == "sentiment"
        assert set(served_versions(clients["http"]).values()) == {str(new.version)}
        after = client.infer("sentiment", {"TEXT": TEXT}, ["PROBABILITIES"])["PROBABILITIES"]
        assert after[0, 1] > before[0, 1] + 0.2  # the +2 logit shift is served
    finally:
        # Give the session's other tests their version back: drop the new one and reload.
        for model in new.models:
            shutil.rmtree(serving_repository / model / str(new.version))
        load_models(settings, new.models)
    restored = client.infer("sentiment", {"TEXT": TEXT}, ["PROBABILITIES"])["PROBABILITIES"]
    np.testing.assert_allclose(restored, before, atol=1e-6)


def test_load_models_without_a_server_returns_nothing(tmp_path: Path) -> None:
    settings = PipelineSettings(state_dir=tmp_path, triton=TritonSettings(http_port=1))
    assert load_models(settings, ["sentiment"]) == []
