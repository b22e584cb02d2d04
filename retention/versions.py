"""Published model versions in a local Triton repository.

A publish writes the same version number into every model folder; the served version is
the newest one that every model holds (Triton serves the latest). A version goes when it
is older than the served one, not among the newest `keep` complete versions, and not
loaded by a running Triton (`protected`). Versions newer than the served one (a publish
still being written) are never touched. The ensemble's folder goes first, so Triton never
sees an ensemble version whose steps are gone.
"""

from __future__ import annotations

import shutil
from collections.abc import Collection
from pathlib import Path

from contract.layout import ENSEMBLE, is_model_folder, version_folders
from retention.report import KindResult


def _size(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def expired_versions(
    repository: Path, keep: int, protected: Collection[int] = ()
) -> dict[int, list[Path]]:
    """Version number -> its folders (ensemble first), for the versions the policy removes."""
    models = sorted(
        (p for p in repository.iterdir() if is_model_folder(p)) if repository.is_dir() else [],
        key=lambda p: (p.name != ENSEMBLE, p.name),
    )
    held = [{int(v.name) for v in version_folders(model)} for model in models]
    complete = sorted(set.intersection(*held), reverse=True) if held else []
    if not complete:
        return {}
    served = complete[0]
    kept = set(complete[:keep]) | {served} | set(protected)
    expired: dict[int, list[Path]] = {}
    for model in models:
        for folder in version_folders(model):
            number = int(folder.name)
            if number < served and number not in kept:
                expired.setdefault(number, []).append(folder)
    return expired


def prune_versions(
    repository: Path, keep: int, protected: Collection[int] = (), *, dry_run: bool = False
) -> KindResult:
    """Remove (or, in a dry run, count) the model versions the policy expires."""
    expired = expired_versions(repository, keep, protected)  # before anything is removed
    folders = [folder for number in sorted(expired) for folder in expired[number]]
    size = sum(_size(folder) for folder in folders)
    if not dry_run:
        for folder in folders:
            shutil.rmtree(folder)
    present = {
        int(v.name)
        for model in (repository.iterdir() if repository.is_dir() else [])
        if is_model_folder(model)
        for v in version_folders(model)
    }
    loaded = f", and those Triton has loaded ({', '.join(map(str, sorted(protected)))})"
    return KindResult(
        kind="model_versions",
        removed=len(expired),
        removed_bytes=size,
        kept=len(present - set(expired)),
        limit=f"the served version and the newest {keep}" + (loaded if protected else ""),
    )
