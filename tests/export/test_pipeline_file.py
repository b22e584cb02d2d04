"""The trained folder's pipeline.json as export reads it: any format, served as current,
with the model's own token limit."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from transformers import BertConfig

from contract.layout import PIPELINE_FILE
from contract.pipeline import LABELS, LENGTH_BUCKETS
from export.convert import ExportedModel, read_pipeline, served_max_length
from export.errors import ConversionError
from export.settings import ExportSettings


def test_a_model_trained_by_an_earlier_release_exports_in_the_current_format(
    tmp_path: Path,
) -> None:
    (tmp_path / PIPELINE_FILE).write_text(json.dumps({"max_length": 256, "labels": ["n", "p"]}))
    trained = read_pipeline(tmp_path)
    assert not trained.is_current
    served = trained.served((16, 64, 1024))
    assert served.is_current and served.labels == ("n", "p")
    assert served.length_buckets == (16, 64, 256)


def test_a_bare_pipeline_json_gets_the_contract_labels(tmp_path: Path) -> None:
    (tmp_path / PIPELINE_FILE).write_text(json.dumps({"max_length": 64}))
    assert read_pipeline(tmp_path).labels == LABELS


@pytest.mark.parametrize("content", [None, "{", '{"labels": ["a", "b"]}'])
def test_a_missing_or_broken_pipeline_json_is_a_conversion_error(
    tmp_path: Path, content: str | None
) -> None:
    if content is not None:
        (tmp_path / PIPELINE_FILE).write_text(content)
    with pytest.raises(ConversionError, match=PIPELINE_FILE):
        read_pipeline(tmp_path)


def test_export_serves_the_models_position_limit_not_the_training_max_length(
    exported: ExportedModel, tiny_model_dir: Path
) -> None:
    assert read_pipeline(tiny_model_dir).max_length == 128  # what training used
    assert exported.pipeline.max_length == 512  # the tiny BERT's max_position_embeddings
    assert exported.pipeline.length_buckets == LENGTH_BUCKETS == (16, 32, 64, 128, 256, 512)


def test_a_lower_limit_may_be_chosen_a_higher_one_is_refused() -> None:
    config = BertConfig(max_position_embeddings=512)
    assert served_max_length(config, ExportSettings()) == 512
    assert served_max_length(config, ExportSettings(max_length=256)) == 256
    with pytest.raises(ConversionError, match="over the model's 512 positions"):
        served_max_length(config, ExportSettings(max_length=1024))
