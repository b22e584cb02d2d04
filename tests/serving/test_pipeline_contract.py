"""The served model follows its pipeline.json: a model exported with max_length 512 and
label names of its own pads texts over 128 tokens exactly as export's golden batches do,
and the ensemble answers with those label names (the Triton models hold no copies)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from transformers import AutoTokenizer
from tritonclient.utils import InferenceServerException

from contract.layout import (
    ENSEMBLE,
    LABELS_FILE,
    ONNX,
    PIPELINE_FILE,
    POSTPROCESS,
    TOKENIZER,
)
from contract.pipeline import Pipeline
from export.golden import serving_batches
from export.publish import PublishedVersion
from export.run import export_model_dir
from serving.tritonserver import TritonServer
from tests.serving.conftest import TritonClient, as_text_tensor, free_ports

pytestmark = pytest.mark.triton

LABELS = ("bad", "good")
MAX_LENGTH = 512
LONG_TEXTS = ["good " * 150, "bad " * 300, "fine " * 510]
"""152, 302 and 512 tokens (one word piece per word, plus [CLS] and [SEP])."""


@pytest.fixture(scope="module")
def model_512(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model (512 positions) with max_length 512 and its own label names."""
    folder = tmp_path_factory.mktemp("model_512") / "model"
    shutil.copytree(tiny_model_dir, folder)
    Pipeline(max_length=MAX_LENGTH, labels=LABELS).write(folder / PIPELINE_FILE)
    return folder


@pytest.fixture(scope="module")
def published_512(
    model_512: Path, golden: list[str], tmp_path_factory: pytest.TempPathFactory
) -> PublishedVersion:
    """Exported through the real pipeline; the parity gate runs on the long texts too."""
    repository = tmp_path_factory.mktemp("repo_512") / "model_repository"
    return export_model_dir(model_512, repository, [*golden[:16], *LONG_TEXTS])


@pytest.fixture(scope="module")
def client_512(
    published_512: PublishedVersion, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TritonClient]:
    http, grpc, metrics = free_ports(3)
    server = TritonServer(
        repository=published_512.repository,
        work_dir=tmp_path_factory.mktemp("triton_512"),
        http_port=http,
        grpc_port=grpc,
        metrics_port=metrics,
        models=[TOKENIZER, ONNX, POSTPROCESS, ENSEMBLE],
        exit_timeout_s=3,
    )
    with server:
        client = TritonClient("grpc", server.grpc_url)
        yield client
        client.close()


def test_export_wrote_the_contract_it_was_given(published_512: PublishedVersion) -> None:
    folder = published_512.repository / TOKENIZER / str(published_512.version)
    pipeline = Pipeline.read(folder / PIPELINE_FILE)
    assert (pipeline.max_length, pipeline.labels) == (MAX_LENGTH, LABELS)
    assert pipeline.length_buckets == (16, 32, 64, 128, 256, 512)
    assert published_512.parity["sequence_lengths"][-2:] == [256, 512]
    labels_file = published_512.repository / ONNX / LABELS_FILE
    assert tuple(labels_file.read_text().split()) == LABELS


def test_long_texts_are_padded_as_export_pads_them(
    client_512: TritonClient, published_512: PublishedVersion, model_512: Path
) -> None:
    folder = published_512.repository / TOKENIZER / str(published_512.version)
    pipeline = Pipeline.read(folder / PIPELINE_FILE)
    tokenizer = AutoTokenizer.from_pretrained(model_512)
    expected = {}
    for batch in serving_batches(
        tokenizer, LONG_TEXTS, pipeline.length_buckets, pipeline.max_length, batch_size=1
    ):
        expected[int(batch.indices[0])] = batch.input_ids[0]
    for index, text in enumerate(LONG_TEXTS):
        served = client_512.infer(TOKENIZER, {"TEXT": as_text_tensor([text])}, ["input_ids"])
        np.testing.assert_array_equal(served["input_ids"][0], expected[index])
    assert [len(expected[i]) for i in range(3)] == [256, 512, 512]


def test_a_text_over_512_tokens_is_refused(client_512: TritonClient) -> None:
    with pytest.raises(InferenceServerException, match="limit of 512"):
        client_512.infer(TOKENIZER, {"TEXT": as_text_tensor(["fine " * 511])}, ["input_ids"])


def test_served_labels_are_the_pipeline_json_labels(client_512: TritonClient) -> None:
    texts = ["a gripping film", "a dull mess", *LONG_TEXTS]
    result = client_512.infer(ENSEMBLE, {"TEXT": as_text_tensor(texts)}, ["LABEL", "PROBABILITIES"])
    served = [label.decode() for label in result["LABEL"][:, 0]]
    assert served == [LABELS[i] for i in result["PROBABILITIES"].argmax(axis=1)]
