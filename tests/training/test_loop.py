from __future__ import annotations

import numpy as np
import pytest
import torch

from config.settings import PipelineSettings
from training.data import load_sst2, take
from training.loop import (
    Checkpoint,
    classification_metrics,
    fit,
    parameter_groups,
    seed_everything,
)
from training.model import build_model, load_tokenizer
from training.presets import PRESETS


def test_classification_metrics_counts_by_true_label() -> None:
    labels = np.array([0, 1, 1, 0, 1])
    predicted = np.array([0, 1, 0, 1, 1])
    scores = classification_metrics(labels, predicted)
    assert scores["confusion_matrix"] == [[1, 1], [1, 2]]
    assert scores["accuracy"] == pytest.approx(0.6)
    assert scores["f1"] == pytest.approx(2 / 3)  # precision 2/3, recall 2/3


def _train_tiny(
    settings: PipelineSettings,
    checkpoint: Checkpoint,
    stop_at: int | None,
    watch: dict[int, dict[str, torch.Tensor]] | None = None,
    **overrides,
):
    """Train the tiny preset on 192 examples (6 steps); `watch` collects weights by step."""
    config = PRESETS["tiny"].with_overrides(train_examples=192, checkpoint_every=2, **overrides)
    seed_everything(config.seed)
    tokenizer = load_tokenizer()
    model = build_model("tiny", tokenizer.vocab_size)
    train = take(load_sst2(settings.data)["train"], config.train_examples, config.seed)
    losses: list[tuple[int, float]] = []

    def on_step(step: int, loss: float) -> None:
        if stop_at is not None and step == stop_at:
            raise KeyboardInterrupt  # the run is killed part-way
        losses.append((step, loss))
        if watch is not None:
            watch[step] = {k: v.clone() for k, v in model.state_dict().items()}

    fit(model, tokenizer, train, config, checkpoint, on_step, run_id="test")
    return model, losses


def _assert_same_weights(model: torch.nn.Module, expected: dict[str, torch.Tensor]) -> None:
    for name, tensor in expected.items():
        torch.testing.assert_close(model.state_dict()[name], tensor, msg=name)


@pytest.mark.parametrize("overrides", [{}, {"ema_decay": 0.5, "layer_lr_decay": 0.8}])
def test_interrupted_run_resumes_to_the_same_weights(pipeline_settings, tmp_path, overrides):
    reference, reference_losses = _train_tiny(
        pipeline_settings, Checkpoint(tmp_path / "a.pt"), None, **overrides
    )
    checkpoint = Checkpoint(tmp_path / "b.pt")
    with pytest.raises(KeyboardInterrupt):
        _train_tiny(pipeline_settings, checkpoint, stop_at=5, **overrides)
    assert checkpoint.load()["step"] == 4
    resumed, resumed_losses = _train_tiny(pipeline_settings, checkpoint, None, **overrides)

    assert [step for step, _ in resumed_losses] == [5, 6]
    assert [loss for _, loss in resumed_losses] == pytest.approx(
        [loss for _, loss in reference_losses[4:]]
    )
    _assert_same_weights(resumed, reference.state_dict())


def test_checkpoint_of_another_configuration_is_not_resumed(pipeline_settings, tmp_path):
    checkpoint = Checkpoint(tmp_path / "c.pt")
    with pytest.raises(KeyboardInterrupt):
        _train_tiny(pipeline_settings, checkpoint, stop_at=5, learning_rate=5e-4)
    fresh, _ = _train_tiny(pipeline_settings, Checkpoint(tmp_path / "d.pt"), None)
    after_other, losses = _train_tiny(pipeline_settings, checkpoint, None)

    assert [step for step, _ in losses] == [1, 2, 3, 4, 5, 6]  # started over
    _assert_same_weights(after_other, fresh.state_dict())


def test_moving_average_is_the_shipped_model(pipeline_settings, tmp_path) -> None:
    # Decay 1.0 keeps the first average (the weights after step 1) for the whole run.
    steps: dict[int, dict[str, torch.Tensor]] = {}
    _train_tiny(pipeline_settings, Checkpoint(tmp_path / "e.pt"), None, watch=steps)
    shipped, _ = _train_tiny(pipeline_settings, Checkpoint(tmp_path / "f.pt"), None, ema_decay=1.0)

    _assert_same_weights(shipped, steps[1])
    last = steps[6]["classifier.weight"]
    assert not torch.allclose(shipped.state_dict()["classifier.weight"], last)


def test_layer_learning_rates_fall_with_depth() -> None:
    config = PRESETS["tiny"].with_overrides(
        learning_rate=1.0, layer_lr_decay=0.5, weight_decay=0.01
    )
    model = build_model("tiny", load_tokenizer().vocab_size)  # 2 encoder layers
    groups = parameter_groups(model, config)
    rate = {id(p): group["lr"] for group in groups for p in group["params"]}
    decay = {id(p): group["weight_decay"] for group in groups for p in group["params"]}
    names = dict(model.named_parameters())

    assert len(rate) == len(names)  # every parameter in exactly one group
    assert rate[id(names["classifier.weight"])] == 1.0
    assert rate[id(names["bert.encoder.layer.1.output.dense.weight"])] == 0.5
    assert rate[id(names["bert.encoder.layer.0.output.dense.weight"])] == 0.25
    assert rate[id(names["bert.embeddings.word_embeddings.weight"])] == 0.125
    assert decay[id(names["bert.encoder.layer.0.output.LayerNorm.weight"])] == 0.0
    assert decay[id(names["bert.encoder.layer.0.output.dense.bias"])] == 0.0
    assert decay[id(names["classifier.weight"])] == config.weight_decay
