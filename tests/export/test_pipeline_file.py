"""The trained folder's pipeline.json as export reads it: any format, served as current."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from contract.layout import PIPELINE_FILE
from contract.pipeline import LABELS
from export.convert import read_pipeline
from export.errors import ConversionError


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
