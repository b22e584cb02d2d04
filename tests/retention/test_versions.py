"""Model version retention on a real repository layout: the served version, the newest N
and the versions Triton has loaded stay; a publish still being written is not touched."""

from __future__ import annotations

from pathlib import Path

from contract.layout import CONFIG_FILE, ENSEMBLE, MODELS, version_folders
from retention.versions import prune_versions


def publish(repository: Path, version: int, models: tuple[str, ...] = MODELS) -> None:
    for model in models:
        folder = repository / model / str(version)
        folder.mkdir(parents=True, exist_ok=True)
        (repository / model / CONFIG_FILE).write_text(f'name: "{model}"\n')
        (folder / "model.bin").write_bytes(b"x" * 100)


def versions(repository: Path, model: str) -> list[int]:
    return [int(p.name) for p in version_folders(repository / model)]


def test_served_newest_and_loaded_versions_stay(tmp_path: Path) -> None:
    for version in range(1, 9):
        publish(tmp_path, version)
    publish(tmp_path, 9, MODELS[:2])  # being written: not every model has it yet
    result = prune_versions(tmp_path, keep=3, protected={2})
    assert result.removed == 4  # 1, 3, 4 and 5
    assert result.removed_bytes == 4 * len(MODELS) * 100
    for model in MODELS:
        expected = [2, 6, 7, 8, 9] if model in MODELS[:2] else [2, 6, 7, 8]
        assert versions(tmp_path, model) == expected
    assert (tmp_path / ENSEMBLE / CONFIG_FILE).is_file()


def test_the_only_version_is_never_removed(tmp_path: Path) -> None:
    publish(tmp_path, 7)
    assert prune_versions(tmp_path, keep=1).removed == 0
    assert versions(tmp_path, ENSEMBLE) == [7]


def test_dry_run_changes_nothing(tmp_path: Path) -> None:
    for version in range(1, 5):
        publish(tmp_path, version)
    dry = prune_versions(tmp_path, keep=1, dry_run=True)
    assert (dry.removed, dry.kept) == (3, 1)
    assert versions(tmp_path, ENSEMBLE) == [1, 2, 3, 4]
    assert prune_versions(tmp_path, keep=1).removed == 3
    assert versions(tmp_path, ENSEMBLE) == [4]
