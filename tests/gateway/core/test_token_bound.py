"""The gateway skips tokenizing only texts it can prove within the token limit: the bound
`TextAnalyzer.tokens_at_most` never undercounts, and validation still refuses, names and
describes every text it must."""

from __future__ import annotations

import string
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors

from contract.pipeline import Pipeline
from gateway.core.errors import ValidationError
from gateway.core.text import TextAnalyzer
from gateway.core.validation import Limits, RawRequest, validate_request

LIMIT = 64
LIMITS = Limits(max_text_chars=None, max_tokens=LIMIT, max_batch_texts=8, models=("sentiment",))
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "a", "b", "c", "##a", "##b", "##c", "ab", "the"]


def bert_tokenizer() -> Tokenizer:
    """BERT-style: BertNormalizer, BertPreTokenizer, WordPiece with word pieces (##)."""
    tokenizer = Tokenizer(models.WordPiece({t: i for i, t in enumerate(VOCAB)}, unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)]
    )
    return tokenizer


@pytest.fixture(scope="module")
def analyzer() -> TextAnalyzer:
    return TextAnalyzer(bert_tokenizer(), Pipeline(max_length=LIMIT))


def tokens(analyzer: TextAnalyzer, text: str) -> int:
    return analyzer.analyze([text])[0].tokens


ASCII = st.text(alphabet=st.sampled_from([chr(c) for c in range(128)]), max_size=300)
"""Every ASCII character, controls and punctuation included."""
PIECES = st.lists(
    st.sampled_from(["a", "b", "c", "ab", "abc", "the", "THE", ",", "!", " ", "\t", "x" * 120]),
    max_size=80,
).map("".join)
"""Texts that split into many word pieces, punctuation and over-long words."""


@settings(max_examples=400, deadline=None)
@given(text=st.one_of(ASCII, PIECES))
def test_the_bound_never_undercounts_an_ascii_text(analyzer: TextAnalyzer, text: str) -> None:
    bound = analyzer.tokens_at_most(text)
    assert bound is not None
    assert tokens(analyzer, text) <= bound


def test_punctuation_reaches_the_bound(analyzer: TextAnalyzer) -> None:
    """One token per character: the bound is tight, not loose by a margin."""
    text = string.punctuation
    assert tokens(analyzer, text) == analyzer.tokens_at_most(text) == len(text) + 2


def test_no_bound_outside_ascii_or_for_other_tokenizers(analyzer: TextAnalyzer) -> None:
    assert analyzer.tokens_at_most("ﬁlm über") is None  # NFD and case mapping lengthen
    bpe = Tokenizer(models.BPE({"a": 0, "[UNK]": 1}, [], unk_token="[UNK]"))
    bpe.pre_tokenizer = pre_tokenizers.Whitespace()
    assert TextAnalyzer(bpe, Pipeline(max_length=LIMIT)).tokens_at_most("a a") is None


def validate(analyzer: TextAnalyzer, texts: list[str], features: bool, truncation: str = "") -> Any:
    raw = RawRequest(texts, "req-1", "", batch=True, truncation=truncation)
    return validate_request(raw, LIMITS, analyzer, "req-1", features)


def test_short_ascii_texts_are_not_tokenized_unless_features_are_wanted(
    analyzer: TextAnalyzer,
) -> None:
    texts = ["a b c", "the ab!"]
    skipped = validate(analyzer, texts, features=False)
    assert skipped.analyzed is None and skipped.truncated == [False, False]
    sampled = validate(analyzer, texts, features=True)
    assert [a.tokens for a in sampled.analyzed] == [5, 5]


def test_texts_the_bound_cannot_clear_are_tokenized_and_judged(analyzer: TextAnalyzer) -> None:
    # 250 characters, 4 tokens: over the bound, within the limit: tokenized and accepted.
    long_words = ["x" * 120 + " " + "y" * 128, "über a"]
    accepted = validate(analyzer, long_words, features=False)
    assert [a.tokens for a in accepted.analyzed] == [4, 4]
    # Over the limit: refused and named, features or not.
    with pytest.raises(ValidationError) as refused:
        validate(analyzer, ["a", "a " * 70], features=False)
    assert [v.field for v in refused.value.violations] == ["texts[1]"]
    assert "72 tokens is over the limit of 64" in refused.value.violations[0].description


def test_a_truncating_request_is_always_tokenized(analyzer: TextAnalyzer) -> None:
    cut = validate(analyzer, ["a " * 70, "a"], features=False, truncation="head")
    assert cut.truncated == [True, False]
