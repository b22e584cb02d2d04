"""Dynamic batching is real: concurrent requests run in fewer executions, in every model
that runs on the CPU path of a text-in model (there, one Python step: configs/cpu.pbtxt)
and in the GPU ensemble's first step, called directly."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.triton


@pytest.mark.parametrize(
    ("model", "output"),
    [("sentiment", "LABEL"), ("sentiment_int8", "LABEL"), ("sentiment_tokenizer", "input_ids")],
)
def test_concurrent_requests_are_batched(clients, golden, model: str, output: str) -> None:
    client = clients["grpc"]
    before = client.statistics(model)
    # Short texts of one bucket, so every step may batch them together.
    texts = [t for t in golden if len(t.split()) < 8][:16] * 4
    requests = [{"TEXT": np.array([[t.encode()]], dtype=np.object_)} for t in texts]
    results = client.infer_many(model, requests, [output])
    assert all(isinstance(r, dict) for r in results)
    after = client.statistics(model)
    inferences = after["inference_count"] - before["inference_count"]
    executions = after["execution_count"] - before["execution_count"]
    assert inferences == len(requests), model
    assert executions < inferences, f"{model}: {executions} executions for {inferences}"
