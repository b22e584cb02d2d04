from __future__ import annotations

import numpy as np
import pytest
import torch

from sentiment.settings import PipelineSettings
from training.data import load_sst2, take
from training.loop import Checkpoint, classification_metrics, fit, seed_everything
from training.model import build_model, load_tokenizer
from training.presets import PRESETS


def test_classification_metrics_counts_by_true_label() -> None:
    labels = np.array([0, 1, 1, 0, 1])
    predicted = np.array([0, 1, 0, 1, 1])
    scores = classification_metrics(labels, predicted)
    assert scores["confusion_matrix"] == [[1, 1], [1, 2]]
    assert scores["accuracy"] == pytest.approx(0.6)
    assert scores["f1"] == pytest.approx(2 / 3)  # precision 2/3, recall 2/3


def _train_tiny(settings: PipelineSettings, checkpoint: Checkpoint, stop_at: int | None):
    config = PRESETS["tiny"].with_overrides(train_examples=192, checkpoint_every=2)
    seed_everything(config.seed)
    tokenizer = load_tokenizer()
    model = build_model("tiny", tokenizer.vocab_size)
    train = take(load_sst2(settings.data)["train"], config.train_examples, config.seed)
    losses: list[tuple[int, float]] = []

    def on_step(step: int, loss: float) -> None:
        if stop_at is not None and step == stop_at:
            raise KeyboardInterrupt  # the run is killed part-way
        losses.append((step, loss))

    fit(model, tokenizer, train, config, checkpoint, on_step, run_id="test")
    return model, losses


def test_interrupted_run_resumes_to_the_same_weights(pipeline_settings, tmp_path) -> None:
    reference, reference_losses = _train_tiny(
        pipeline_settings, Checkpoint(tmp_path / "a.pt"), None
    )
    checkpoint = Checkpoint(tmp_path / "b.pt")
    with pytest.raises(KeyboardInterrupt):
        _train_tiny(pipeline_settings, checkpoint, stop_at=5)
    assert checkpoint.load()["step"] == 4
    resumed, resumed_losses = _train_tiny(pipeline_settings, checkpoint, None)

    assert [step for step, _ in resumed_losses] == [5, 6]
    assert [loss for _, loss in resumed_losses] == pytest.approx(
        [loss for _, loss in reference_losses[4:]]
    )
    for name, tensor in reference.state_dict().items():
        torch.testing.assert_close(resumed.state_dict()[name], tensor, msg=name)
