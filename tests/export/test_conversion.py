"""The converted files load, have the serving contract's signature and take any length up
to the model's limit."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from export.convert import ExportedModel, load_classifier


def test_torchscript_returns_logits_for_any_batch_and_length(exported: ExportedModel) -> None:
    module = torch.jit.load(str(exported.torchscript))
    for batch, length in ((1, 16), (5, 64)):
        ids = torch.randint(1, 100, (batch, length))
        mask = torch.ones(batch, length, dtype=torch.long)
        logits = module(ids, mask)
        assert isinstance(logits, torch.Tensor)
        assert logits.shape == (batch, len(exported.labels))


def test_onnx_graphs_take_ids_and_mask_with_dynamic_axes(exported: ExportedModel) -> None:
    for path in (exported.onnx, exported.onnx_int8):
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        inputs = {i.name: i for i in session.get_inputs()}
        assert list(inputs) == ["input_ids", "attention_mask"]  # no token_type_ids
        assert all(i.type == "tensor(int64)" for i in inputs.values())
        assert all(i.shape == ["batch_size", "sequence_length"] for i in inputs.values())
        assert [(o.name, o.shape) for o in session.get_outputs()] == [("logits", ["batch_size", 2])]
        ones = np.ones((3, 32), np.int64)
        feed = {"input_ids": ones, "attention_mask": ones}
        assert session.run(None, feed)[0].shape == (3, 2)


def test_onnx_opset_and_int8_quantized_ops(exported: ExportedModel) -> None:
    model = onnx.load(str(exported.onnx))
    assert max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) == 18
    quantized_ops = {node.op_type for node in onnx.load(str(exported.onnx_int8)).graph.node}
    assert {"DynamicQuantizeLinear", "MatMulInteger"} <= quantized_ops


@pytest.mark.parametrize("length", [16, 200, 512])
def test_exports_match_eager_at_every_length_up_to_the_limit(
    exported: ExportedModel, length: int
) -> None:
    """Traced on a 4-token example, the TorchScript module must not keep that length (nor
    the ONNX graph any other): both follow eager up to the model's 512 positions, padded
    rows included."""
    assert exported.max_length == 512
    generator = torch.Generator().manual_seed(length)
    ids = torch.randint(1000, 2000, (3, length), generator=generator)
    ids[:, 0], ids[:, -1] = 101, 102
    mask = torch.ones(3, length, dtype=torch.long)
    mask[1, length // 2 :] = 0  # a padded row
    ids[1, length // 2 :] = 0
    with torch.no_grad():
        eager = load_classifier(exported.model_dir)(input_ids=ids, attention_mask=mask).logits
        traced = torch.jit.load(str(exported.torchscript))(ids, mask)
    session = ort.InferenceSession(str(exported.onnx), providers=["CPUExecutionProvider"])
    onnx_logits = session.run(None, {"input_ids": ids.numpy(), "attention_mask": mask.numpy()})[0]
    np.testing.assert_allclose(traced.numpy(), eager.numpy(), atol=1e-4)
    np.testing.assert_allclose(onnx_logits, eager.numpy(), atol=1e-4)
