"""Dynamic batching is real: concurrent requests run in fewer executions."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.triton

ENSEMBLE_PATH = ("sentiment_tokenizer", "sentiment_onnx", "sentiment_postprocess")


def test_concurrent_requests_are_batched_in_every_step(clients, golden) -> None:
    client = clients["grpc"]
    before = {model: client.statistics(model) for model in ENSEMBLE_PATH}
    # Short texts of one bucket, so every step may batch them together.
    texts = [t for t in golden if len(t.split()) < 8][:16] * 4
    requests = [{"TEXT": np.array([[t.encode()]], dtype=np.object_)} for t in texts]
    results = client.infer_many("sentiment", requests, ["LABEL"])
    assert all(isinstance(r, dict) for r in results)
    for model in ENSEMBLE_PATH:
        after = client.statistics(model)
        inferences = after["inference_count"] - before[model]["inference_count"]
        executions = after["execution_count"] - before[model]["execution_count"]
        assert inferences == len(requests), model
        assert executions < inferences, f"{model}: {executions} executions for {inferences}"
