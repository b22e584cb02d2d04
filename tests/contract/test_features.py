"""The drift features: their values, and one column per feature in the store."""

from __future__ import annotations

from dataclasses import asdict

import pytest
from sqlalchemy import Float, Integer

from contract.features import FEATURES, TextFeatures, features_of
from store.models import DriftRow

UNK = 100


def test_features_of_a_text() -> None:
    features = features_of("naïve café", [10, UNK, 12, UNK], UNK)
    assert features == TextFeatures(
        text_length=10, token_count=4, unknown_token_rate=0.5, non_ascii_share=0.2
    )
    assert list(asdict(features)) == list(FEATURES)


@pytest.mark.parametrize(
    ("text", "pieces", "unknown_id"),
    [("", [], UNK), ("plain", [7], None), ("plain", [UNK], None)],
)
def test_empty_texts_and_tokenizers_without_unknown_give_zero_shares(
    text: str, pieces: list[int], unknown_id: int | None
) -> None:
    features = features_of(text, pieces, unknown_id)
    assert features.unknown_token_rate == 0.0 and features.non_ascii_share == 0.0


def test_the_store_has_a_column_of_the_right_type_per_feature() -> None:
    columns = DriftRow.__table__.columns
    for name, value in asdict(features_of("ab", [1, 2], UNK)).items():
        assert name in columns, f"drift_samples lacks a column for {name}"
        expected = Integer if isinstance(value, int) else Float
        assert isinstance(columns[name].type, expected), name
