"""The golden set is deterministic, holds long texts, and is batched like serving batches
it."""

from __future__ import annotations

import pytest
from transformers import AutoTokenizer

from config.settings import PipelineSettings
from contract.pipeline import LENGTH_BUCKETS, padding_length, padding_lengths
from export.convert import ExportedModel
from export.golden import GOLDEN_SIZE, golden_texts, long_texts, serving_batches
from export.parity import ParityReport


def test_golden_texts_are_the_first_sorted_distinct_dev_sentences(
    golden: list[str], pipeline_settings: PipelineSettings
) -> None:
    assert len(golden) == GOLDEN_SIZE
    assert golden == sorted(set(golden))
    assert golden_texts(pipeline_settings.data) == golden


def test_each_text_is_padded_to_its_smallest_bucket(
    exported: ExportedModel, golden: list[str]
) -> None:
    tokenizer = AutoTokenizer.from_pretrained(exported.model_dir)
    batches = list(serving_batches(tokenizer, golden, LENGTH_BUCKETS, 128, 32))
    seen = sorted(int(i) for b in batches for i in b.indices)
    assert seen == list(range(len(golden)))
    for batch in batches:
        length = batch.input_ids.shape[1]
        assert length in (16, 32, 64, 128) and len(batch.indices) <= 32
        assert batch.input_ids.shape == batch.attention_mask.shape
        real = batch.attention_mask.sum(axis=1)
        assert real.max() <= length
        assert real.min() > {16: 0, 32: 16, 64: 32, 128: 64}[length]  # no smaller bucket fits
    assert len({b.input_ids.shape[1] for b in batches}) > 1  # several buckets exercised


def test_text_longer_than_max_length_is_refused(exported: ExportedModel) -> None:
    tokenizer = AutoTokenizer.from_pretrained(exported.model_dir)
    with pytest.raises(ValueError, match="max_length"):
        list(serving_batches(tokenizer, ["word " * 40], (16, 32), 32, 8))


def test_texts_over_128_tokens_get_a_bucket_when_max_length_is_512(
    exported: ExportedModel, golden: list[str]
) -> None:
    tokenizer = AutoTokenizer.from_pretrained(exported.model_dir)
    long_texts = ["good " * 150, "bad " * 300]
    lengths = [len(ids) for ids in tokenizer(long_texts)["input_ids"]]
    assert lengths == [152, 302]  # one word piece each, plus [CLS] and [SEP]
    batches = list(serving_batches(tokenizer, [*golden[:4], *long_texts], LENGTH_BUCKETS, 512, 8))
    padded = {int(i): b.input_ids.shape[1] for b in batches for i in b.indices}
    expected = padding_lengths(512)
    assert (
        (padded[4], padded[5]) == (256, 512) == tuple(padding_length(n, expected) for n in lengths)
    )


def test_long_texts_are_dev_sentences_joined_to_about_the_target_lengths(
    exported: ExportedModel, golden: list[str]
) -> None:
    tokenizer = AutoTokenizer.from_pretrained(exported.model_dir)
    texts = long_texts(golden, tokenizer, (200, 450), 512)
    lengths = [len(ids) for ids in tokenizer(texts)["input_ids"]]
    assert 150 < lengths[0] <= 200 and 400 < lengths[1] <= 450  # the 256 and 512 buckets
    # Consecutive golden sentences, from the start and from the middle of the set.
    assert any(texts[0] == " ".join(golden[:k]) for k in range(2, 40))
    assert any(texts[1] == " ".join(golden[128 : 128 + k]) for k in range(2, 60))
    assert long_texts(golden, tokenizer, (200, 450), 512) == texts  # reproducible
    capped = long_texts(golden, tokenizer, (450, 1000), 128)
    assert len(capped) == 1 and len(tokenizer(capped[0])["input_ids"]) <= 128


def test_the_parity_gate_checks_long_texts(parity_report: ParityReport) -> None:
    assert parity_report.long_text_count == 2
    assert parity_report.golden_size == GOLDEN_SIZE + 2
    assert 400 < parity_report.longest_tokens <= 450
    assert parity_report.sequence_lengths[-2:] == [256, 512]
    assert parity_report.as_dict()["long_text_count"] == 2
