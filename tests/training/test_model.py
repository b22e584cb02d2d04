from __future__ import annotations

from pathlib import Path

import pytest
import torch

from training.model import MeanPoolingBertClassifier, build_model, load_classifier, load_tokenizer


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer()


@pytest.mark.parametrize("pooling", ["cls", "mean"])
def test_saved_classifier_loads_with_its_own_head(tokenizer, tmp_path: Path, pooling) -> None:
    torch.manual_seed(0)
    model = build_model("tiny", tokenizer.vocab_size, pooling).eval()
    batch = tokenizer(["a gripping film", "dull"], padding=True, return_tensors="pt")
    model.save_pretrained(tmp_path)

    loaded = load_classifier(tmp_path)
    assert type(loaded) is type(model)
    assert not loaded.training
    with torch.no_grad():
        torch.testing.assert_close(loaded(**batch).logits, model(**batch).logits)


def test_mean_pooling_ignores_padding(tokenizer) -> None:
    torch.manual_seed(0)
    model = build_model("tiny", tokenizer.vocab_size, "mean").eval()
    assert isinstance(model, MeanPoolingBertClassifier)
    alone = tokenizer(["dull"], return_tensors="pt")
    padded = tokenizer(
        ["dull", "a long and quite gripping film"], padding=True, return_tensors="pt"
    )
    assert padded["input_ids"].shape[1] > alone["input_ids"].shape[1]
    with torch.no_grad():
        torch.testing.assert_close(model(**padded).logits[0], model(**alone).logits[0])


def test_mean_pooling_trains_with_labels(tokenizer) -> None:
    model = build_model("tiny", tokenizer.vocab_size, "mean")
    batch = tokenizer(["good", "bad"], padding=True, return_tensors="pt")
    output = model(**batch, labels=torch.tensor([1, 0]))
    output.loss.backward()
    assert output.loss.item() > 0
    assert model.classifier.weight.grad is not None


def test_unknown_pooling_is_refused(tokenizer) -> None:
    with pytest.raises(ValueError, match="pooling"):
        build_model("tiny", tokenizer.vocab_size, "max")
