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


def folder_size(folder: Path) -> int:
    """Bytes of every file below `folder` (0 when it does not exist)."""
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def repository_versions(repository: Path) -> dict[int, list[Path]]:
    """Version number -> its folders in every model (the ensemble's first), for a local
    repository ({} when it does not exist)."""
    models = sorted(
        (p for p in repository.iterdir() if is_model_folder(p)) if repository.is_dir() else [],
        key=lambda p: (p.name != ENSEMBLE, p.name),
    )
    versions: dict[int, list[Path]] = {}
    for model in models:
        for folder in version_folders(model):
            versions.setdefault(int(folder.name), []).append(folder)
    return versions


def expired_versions(
    repository: Path, keep: int, protected: Collection[int] = ()
) -> dict[int, list[Path]]:
    """Version number -> its folders (ensemble first), for the versions the policy removes."""
    versions = repository_versions(repository)
    models = {folder.parent for folders in versions.values() for folder in folders}
    complete = sorted((n for n, f in versions.items() if len(f) == len(models)), reverse=True)
    if not complete:
        return {}
    served = complete[0]
    kept = set(complete[:keep]) | set(protected)
    return {n: f for n, f in versions.items() if n < served and n not in kept}


def prune_versions(
    repository: Path, keep: int, protected: Collection[int] = (), *, dry_run: bool = False
) -> KindResult:
    """Remove (or, in a dry run, count) the model versions the policy expires."""
    present = repository_versions(repository)  # before anything is removed
    expired = expired_versions(repository, keep, protected)
    size = sum(folder_size(folder) for folders in expired.values() for folder in folders)
    if not dry_run:
        for number in sorted(expired):
            for folder in expired[number]:
                shutil.rmtree(folder)
    loaded = f", and those Triton has loaded ({', '.join(map(str, sorted(protected)))})"
    return KindResult(
        kind="model_versions",
        removed=len(expired),
        removed_bytes=size,
        kept=len(present) - len(expired),
        limit=f"the served version and the newest {keep}" + (loaded if protected else ""),
    )
