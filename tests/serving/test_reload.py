"""A newly published version takes no traffic; the configs' version policy decides what a
running server loads, without a restart."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from config.settings import PipelineSettings
from config.triton import TritonSettings
from contract.layout import TEXT_MODELS
from contract.versions import write_policy
from export.publish import PublishedVersion
from export.run import export_model_dir
from serving.admin import http_headers
from serving.inventory import inventory, render
from serving.tritonserver import TritonServer, TritonServerError, load_models
from tests.variants import shifted_model

pytestmark = pytest.mark.triton

TEXT = np.array([[b"an utterly charming and moving film"]], dtype=np.object_)


def wait_until_ready(client, timeout: float = 60.0) -> None:
    """Until the server is ready again (strict readiness: no version still unloading)."""
    deadline = time.monotonic() + timeout
    while not client.client.is_server_ready():
        assert time.monotonic() < deadline, "Triton did not become ready again"
        time.sleep(0.2)


def served_versions(client, key: str) -> dict[str, str]:
    index = client.client.get_model_repository_index(headers=http_headers(key))
    return {m["name"]: m.get("version", "") for m in index if m.get("state") == "READY"}


def test_inventory_reports_repository_and_server(
    triton: TritonServer, published: PublishedVersion, serving_repository: Path, tmp_path: Path
) -> None:
    settings = PipelineSettings(
        state_dir=tmp_path,
        model_repository=str(serving_repository),
        triton=TritonSettings(http_port=triton.http_port, admin_key=triton.admin_key),
    )
    report = inventory(settings)
    assert report.repository.latest_version == published.version
    assert {m.name for m in report.repository.models} == set(published.models)
    assert report.server.ready is True
    assert {m.name for m in report.server.models if m.ready} == set(published.models)
    text = render(report)
    assert "sentiment_onnx_int8" in text and "ready" in text


def test_a_new_version_is_published_without_traffic_and_served_once_the_configs_load_it(
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
    assert new.loaded == [published.version] and not new.live
    settings = PipelineSettings(
        state_dir=tmp_path,
        model_repository=str(serving_repository),
        triton=TritonSettings(http_port=triton.http_port, admin_key=triton.admin_key),
    )
    try:
        load_models(settings, new.models)  # a reload keeps the configs' versions
        assert set(served_versions(clients["http"], triton.admin_key).values()) == {
            str(published.version)
        }
        unchanged = client.infer("sentiment", {"TEXT": TEXT}, ["PROBABILITIES"])
        np.testing.assert_allclose(unchanged["PROBABILITIES"], before, atol=1e-6)

        write_policy(serving_repository, [new.version])  # what a promote does
        loaded = load_models(settings, new.models)
        text_models = list(TEXT_MODELS)  # loaded after the steps they may call
        assert sorted(loaded) == sorted(new.models) and loaded[-2:] == text_models
        assert set(served_versions(clients["http"], triton.admin_key).values()) == {
            str(new.version)
        }
        after = client.infer("sentiment", {"TEXT": TEXT}, ["PROBABILITIES"])["PROBABILITIES"]
        assert after[0, 1] > before[0, 1] + 0.2  # the +2 logit shift is served
    finally:
        # Give the session's other tests their version back: drop the new one and reload.
        write_policy(serving_repository, [published.version])
        for model in new.models:
            shutil.rmtree(serving_repository / model / str(new.version))
        load_models(settings, new.models)
        wait_until_ready(clients["http"])  # the dropped versions' stubs stop in the background
    restored = client.infer("sentiment", {"TEXT": TEXT}, ["PROBABILITIES"])["PROBABILITIES"]
    np.testing.assert_allclose(restored, before, atol=1e-6)


def test_load_models_without_a_server_returns_nothing(tmp_path: Path) -> None:
    settings = PipelineSettings(state_dir=tmp_path, triton=TritonSettings(http_port=1))
    assert load_models(settings, ["sentiment"]) == []


def test_without_the_admin_key_nothing_loads_and_the_inventory_says_why(
    clients, triton: TritonServer, published: PublishedVersion, serving_repository: Path,
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # fmt: skip
    monkeypatch.delenv("SENTIMENT_TRITON_ADMIN_KEY", raising=False)
    settings = PipelineSettings(
        state_dir=tmp_path,  # no local key here, and none set
        model_repository=str(serving_repository),
        triton=TritonSettings(http_port=triton.http_port),
    )
    with pytest.raises(TritonServerError) as refused:
        load_models(settings, ["sentiment"])
    assert str(refused.value) == (
        f"Triton at {triton.http_url} refused to load sentiment: Triton's model-repository "
        "API needs the admin key: set SENTIMENT_TRITON_ADMIN_KEY to the key the server was "
        "started with"
    )
    report = inventory(settings)
    assert report.server.ready is not None and report.server.models == []  # it answered
    assert report.server.error is not None and "needs the admin key" in report.server.error
    assert "needs the admin key" in render(report)
    assert clients["http"].client.is_model_ready("sentiment")
