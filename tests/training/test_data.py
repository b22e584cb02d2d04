from __future__ import annotations

import pytest

from config.settings import PipelineSettings
from training.data import load_sst2, take


def test_local_sst2_is_read_where_it_lies(pipeline_settings: PipelineSettings) -> None:
    splits = load_sst2(pipeline_settings.data)
    assert len(splits["train"]) == 67_349
    assert len(splits["dev"]) == 872
    assert splits["dev"].column_names == ["sentence", "label"]
    assert set(splits["dev"]["label"]) == {0, 1}
    # QUOTE_NONE keeps the treebank's quote marks inside sentences intact.
    assert any("''" in text or "``" in text for text in splits["dev"]["sentence"])
    assert all(isinstance(text, str) and text for text in splits["dev"]["sentence"])


def test_missing_files_name_the_path(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match=r"train\.tsv"):
        load_sst2(str(tmp_path))


def test_take_is_seeded(pipeline_settings: PipelineSettings) -> None:
    dev = load_sst2(pipeline_settings.data)["dev"]
    first = take(dev, 50, seed=3)["sentence"]
    assert first == take(dev, 50, seed=3)["sentence"]
    assert first != take(dev, 50, seed=4)["sentence"]
    assert len(take(dev, None, seed=3)) == len(dev)
