"""Model names, remote locations and the listing of numbered version folders."""

from __future__ import annotations

from pathlib import Path

import pytest

from contract.layout import (
    ENSEMBLE,
    MODELS,
    PYTHON_MODELS,
    TEXT_MODELS,
    is_model_folder,
    is_remote,
    latest_version_folder,
    version_folders,
)


@pytest.mark.parametrize(
    ("location", "remote"),
    [
        ("s3://bucket/models", True),
        ("gs://bucket/models", True),
        ("as://account/container/models", True),
        ("/srv/models", False),
        ("relative/s3://x", False),
        (Path("/tmp/model_repository"), False),
    ],
)
def test_is_remote_knows_every_cloud_scheme_triton_opens(location: str, remote: bool) -> None:
    assert is_remote(location) is remote


def test_the_text_models_are_published_last_and_python_models_are_models() -> None:
    assert MODELS[-len(TEXT_MODELS) :] == tuple(TEXT_MODELS) and len(set(MODELS)) == len(MODELS)
    assert ENSEMBLE in TEXT_MODELS and set(TEXT_MODELS.values()) < set(MODELS)
    assert set(PYTHON_MODELS) <= set(MODELS)


def test_version_folders_are_numbered_folders_in_numeric_order(tmp_path: Path) -> None:
    model = tmp_path / "sentiment_onnx"
    for name in ("2", "10", "9", "latest", ".staging-3"):
        (model / name).mkdir(parents=True)
    (model / "11").write_text("a file, not a version")
    assert [p.name for p in version_folders(model)] == ["2", "9", "10"]
    assert latest_version_folder(model) == model / "10"
    assert version_folders(tmp_path / "missing") == []
    assert latest_version_folder(tmp_path / "missing") is None


def test_model_folders_hold_a_config(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "config.pbtxt").write_text("")
    (tmp_path / "b" / "configs").mkdir(parents=True)
    (tmp_path / "c").mkdir()
    assert [is_model_folder(tmp_path / n) for n in "abc"] == [True, True, False]
