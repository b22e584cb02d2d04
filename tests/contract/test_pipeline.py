"""Padding lengths for any max_length, truncation's kept ranges, and pipeline.json in both
formats."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from contract.pipeline import (
    LABELS,
    LEGACY_FORMAT_VERSION,
    LENGTH_BUCKETS,
    PIPELINE_FORMAT_VERSION,
    Pipeline,
    PipelineError,
    kept_ranges,
    padding_length,
    padding_lengths,
)


def kept(length: int, max_length: int, truncation: str, lead: int = 1, trail: int = 1) -> list:
    """The positions of an encoding of `length` ([CLS] content [SEP]) that truncation keeps."""
    special = [1] * lead + [0] * (length - lead - trail) + [1] * trail
    return [
        i for start, end in kept_ranges(special, max_length, truncation) for i in range(start, end)
    ]


def test_head_keeps_the_first_tokens_and_the_special_ones() -> None:
    positions = kept(600, 512, "head")
    assert positions == [*range(0, 511), 599]  # [CLS], 510 content tokens, [SEP]


def test_head_tail_keeps_a_quarter_of_the_budget_from_the_start_and_the_rest_from_the_end() -> None:
    positions = kept(600, 512, "head_tail")
    budget = 510
    assert budget // 4 == 127
    assert positions == [0, *range(1, 128), *range(600 - 1 - 383, 600)]
    assert len(positions) == 512


@pytest.mark.parametrize("truncation", ["head", "head_tail"])
@pytest.mark.parametrize("length", [3, 16, 17, 513, 2000])
def test_truncation_never_leaves_more_than_max_length(truncation: str, length: int) -> None:
    positions = kept(length, 16, truncation)
    assert len(positions) == min(length, 16)
    assert positions == sorted(set(positions)) and positions[0] == 0 and positions[-1] == length - 1


def test_every_special_token_at_either_end_is_kept() -> None:
    positions = kept(40, 16, "head_tail", lead=2, trail=3)  # budget 11: 2 head, 9 tail
    assert positions == [0, 1, 2, 3, *range(40 - 3 - 9, 40)]


def test_within_the_limit_nothing_is_cut_and_an_unknown_mode_is_refused() -> None:
    assert kept_ranges([1, 0, 0, 1], 4, "anything") == ((0, 4),)
    with pytest.raises(ValueError, match="truncation"):
        kept_ranges([1, 0, 0, 0, 1], 4, "middle")


@pytest.mark.parametrize(
    ("max_length", "expected"),
    [
        (128, (16, 32, 64, 128)),
        (50, (16, 32, 50)),
        (16, (16,)),
        (200, (16, 32, 64, 128, 200)),
        (512, (16, 32, 64, 128, 256, 512)),
        (1024, (16, 32, 64, 128, 256, 512, 1024)),
    ],
)
def test_padding_lengths_end_at_max_length(max_length: int, expected: tuple[int, ...]) -> None:
    assert padding_lengths(max_length) == expected


@pytest.mark.parametrize("max_length", [2, 50, 128, 512])
def test_every_length_up_to_max_length_gets_the_smallest_that_holds_it(max_length: int) -> None:
    lengths = padding_lengths(max_length)
    for tokens in range(1, max_length + 1):
        chosen = padding_length(tokens, lengths)
        assert chosen >= tokens
        assert all(other < tokens for other in lengths if other < chosen)
    with pytest.raises(ValueError, match=f"over the limit of {max_length}"):
        padding_length(max_length + 1, lengths)


def test_buckets_from_settings_are_sorted_and_deduplicated() -> None:
    assert padding_lengths(100, (64, 16, 16, 0, 300)) == (16, 64, 100)


def test_a_document_round_trips() -> None:
    pipeline = Pipeline(max_length=512, labels=("bad", "good"))
    assert pipeline.length_buckets == padding_lengths(512)
    document = json.loads(json.dumps(pipeline.as_dict()))
    assert document["format_version"] == PIPELINE_FORMAT_VERSION
    assert Pipeline.from_dict(document) == pipeline
    assert Pipeline.from_dict(document).is_current


def test_an_old_document_gets_the_contract_defaults_and_is_not_current() -> None:
    old = Pipeline.from_dict({"max_length": 64, "labels": ["negative", "positive"]})
    assert old.format_version == LEGACY_FORMAT_VERSION and not old.is_current
    assert old.length_buckets == (16, 32, 64) and old.labels == LABELS
    bare = Pipeline.from_dict({"max_length": 128})
    assert bare.labels == LABELS and bare.length_buckets == (16, 32, 64, 128)


def test_served_form_is_current_with_the_given_buckets() -> None:
    old = Pipeline.from_dict({"max_length": 300, "labels": ["no", "yes"]})
    served = old.served(LENGTH_BUCKETS)
    assert served.is_current and served.labels == ("no", "yes")
    assert served.length_buckets == (16, 32, 64, 128, 256, 300)
    assert old.served((100,)).length_buckets == (100, 300)


def test_the_served_form_takes_the_limit_export_chooses() -> None:
    trained = Pipeline.from_dict({"max_length": 128, "labels": ["no", "yes"]})
    served = trained.served(LENGTH_BUCKETS, max_length=512)
    assert served.max_length == 512 and served.length_buckets == LENGTH_BUCKETS
    assert served.labels == ("no", "yes")


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ({"labels": ["a", "b"]}, "no max_length"),
        ({"max_length": "128"}, "max_length must be an integer"),
        ({"max_length": 1}, "at least 2"),
        ({"max_length": 128, "labels": ["only"]}, "two distinct"),
        ({"max_length": 128, "labels": ["same", "same"]}, "two distinct"),
        ({"max_length": 128, "labels": ["very good", "bad"]}, "without whitespace"),
        ({"max_length": 128, "labels": "ab"}, "labels must be a list"),
        ({"max_length": 128, "length_buckets": [16, 64]}, "ascend"),
        ({"max_length": 128, "length_buckets": [32, 16, 128]}, "ascend"),
        ({"max_length": 128, "length_buckets": [0, 128]}, "ascend"),
        ({"max_length": 128, "tokenizer_dir": "../x"}, "tokenizer_dir"),
        ([1, 2], "must hold an object"),
    ],
)
def test_documents_that_break_the_contract_are_refused(document: object, problem: str) -> None:
    with pytest.raises(PipelineError, match=problem):
        Pipeline.from_dict(document)  # type: ignore[arg-type]


def test_read_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "pipeline.json"
    with pytest.raises(PipelineError, match="cannot read"):
        Pipeline.read(path)
    path.write_text('{"max_length": 0}')
    with pytest.raises(PipelineError, match=str(path)):
        Pipeline.read(path)
    Pipeline(max_length=96).write(path)
    assert Pipeline.read(path) == Pipeline(max_length=96)
