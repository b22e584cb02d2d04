"""A state directory left by an earlier release (pipeline.json without a format version,
labels in labels.txt) still starts, is reported as not current, and `make model`
re-exports the newest registered model into a current version without training."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from config.settings import PROJECT_ROOT, PipelineSettings
from contract.layout import LABELS_FILE, PIPELINE_FILE, POSTPROCESS, TOKENIZER
from contract.pipeline import LABELS, PIPELINE_FORMAT_VERSION, Pipeline
from export.run import run_export
from gateway.core.text import TextAnalyzer
from serving.inventory import inventory, render
from training.run import train


def downgrade(repository: Path, version: int) -> None:
    """Rewrite a published version the way an earlier release wrote it."""
    old = {"max_length": 128, "labels": list(LABELS)}  # format 1: no format_version
    (repository / TOKENIZER / str(version) / PIPELINE_FILE).write_text(json.dumps(old))
    (repository / POSTPROCESS / str(version) / PIPELINE_FILE).unlink()
    (repository / POSTPROCESS / LABELS_FILE).write_text("negative\npositive\n")


@pytest.fixture(scope="module")
def old_state(tmp_path_factory: pytest.TempPathFactory) -> PipelineSettings:
    """Its own state dir (MLflow store included): the re-export logs to the trained run."""
    settings = PipelineSettings(state_dir=tmp_path_factory.mktemp("old_state"))
    train(settings, "tiny")
    published = run_export(settings)
    downgrade(Path(settings.repository_path()), published.version)
    return settings


def make_model(settings: PipelineSettings, tmp_path: Path) -> tuple[str, list[str]]:
    """`make model` on the state dir; `sentiment` refuses to train. Returns (output, the
    sentiment commands it ran)."""
    bin_dir, calls = tmp_path / "bin", tmp_path / "calls"
    bin_dir.mkdir(parents=True)
    venv = PROJECT_ROOT / ".venv" / "bin"
    (bin_dir / "python").write_text(f'#!/bin/sh\nexec {venv}/python "$@"\n')
    (bin_dir / "sentiment").write_text(
        "#!/bin/sh\n"
        f'echo "$*" >> {calls}\n'
        'if [ "$1" = train ]; then echo "this test never trains" >&2; exit 3; fi\n'
        f'exec {venv}/sentiment "$@"\n'
    )
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENTIMENT_")}
    env["SENTIMENT_STATE_DIR"] = str(settings.state_dir)
    result = subprocess.run(
        [
            "make",
            "--no-print-directory",
            "-C",
            str(PROJECT_ROOT),
            "-o",
            "setup",
            "model",
            f"BIN={bin_dir}",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    ran = calls.read_text().splitlines() if calls.exists() else []
    return output, ran


def test_an_old_version_is_reported_as_not_current(old_state: PipelineSettings) -> None:
    report = inventory(old_state, query_server=False)
    assert report.repository.latest_version == 1
    assert report.repository.pipeline_format == 1
    assert report.repository.pipeline_current is False
    assert report.as_dict()["repository"]["expected_pipeline_format"] == PIPELINE_FORMAT_VERSION
    assert "re-export" in render(report)


def test_the_gateway_still_starts_on_an_old_version(old_state: PipelineSettings) -> None:
    analyzer = TextAnalyzer.from_repository(Path(old_state.repository_path()))
    assert analyzer.labels == list(LABELS) and analyzer.max_length == 128
    assert analyzer.analyze(["a fine film"])[0].model_tokens == 5


def test_make_model_re_exports_an_old_version_without_training(
    old_state: PipelineSettings, tmp_path: Path
) -> None:
    output, ran = make_model(old_state, tmp_path)
    assert "older pipeline format" in output
    assert ran == ["export --no-load --serve"]
    repository = inventory(old_state, query_server=False).repository
    assert (repository.latest_version, repository.pipeline_current) == (2, True)
    for model in (TOKENIZER, POSTPROCESS):
        path = Path(old_state.repository_path()) / model / "2" / PIPELINE_FILE
        assert Pipeline.read(path).is_current

    output, ran = make_model(old_state, tmp_path / "again")
    assert "already holds a current published version" in output
    assert ran == []
