"""The version policy line of the served configs: rendered, read back, rewritten."""

from __future__ import annotations

from pathlib import Path

import pytest
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2

from contract.layout import CONFIG_FILE, CONFIGS_DIR, MODELS
from contract.versions import (
    loaded_versions,
    parse_run_ids,
    read_policy,
    run_ids_value,
    with_policy,
    write_policy,
)

CONFIG = 'name: "sentiment"\nbackend: "python"\nmax_batch_size: 8\n'


def test_the_policy_line_is_valid_triton_config_and_reads_back() -> None:
    config = with_policy(CONFIG, [3, 1, 3])
    parsed = text_format.Parse(config, model_config_pb2.ModelConfig())
    assert list(parsed.version_policy.specific.versions) == [1, 3]
    assert read_policy(config) == [1, 3]
    again = with_policy(config, [2])
    assert read_policy(again) == [2] and again.count("version_policy") == 1
    assert read_policy(CONFIG) is None
    with pytest.raises(ValueError):
        with_policy(CONFIG, [])


def test_write_policy_rewrites_every_config_of_the_repository(tmp_path: Path) -> None:
    for model in MODELS:
        (tmp_path / model / CONFIGS_DIR).mkdir(parents=True)
        (tmp_path / model / CONFIG_FILE).write_text(CONFIG)
        (tmp_path / model / CONFIGS_DIR / "cpu.pbtxt").write_text(with_policy(CONFIG, [1]))
    assert loaded_versions(tmp_path) == [1]
    changed = write_policy(tmp_path, [1, 2])
    assert len(changed) == 2 * len(MODELS)
    assert loaded_versions(tmp_path) == [1, 2]
    assert write_policy(tmp_path, [1, 2]) == []  # nothing to change
    assert not list(tmp_path.rglob(".*"))  # no temporary file left


def test_run_ids_round_trip_and_tolerate_garbage() -> None:
    assert parse_run_ids(run_ids_value({2: "b", 1: "a"})) == {"1": "a", "2": "b"}
    assert parse_run_ids("") == {} and parse_run_ids("[1]") == {} and parse_run_ids("{") == {}
