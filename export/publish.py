"""Atomic publish of one exported, parity-checked model version into a served repository.

Everything is written into a staging dot-folder inside the repository (same filesystem, so
renames are atomic), then each version folder is renamed into place and each config file
replaced, leaf models first and the ensemble last. Any failure undoes what was moved and
removes the staging folder: the repository is left as it was.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from transformers import AutoTokenizer

from contract.layout import (
    CONFIG_FILE,
    CONFIGS_DIR,
    LABELS_FILE,
    METADATA_FILE,
    MODEL_FILE,
    MODELS,
    ONNX,
    ONNX_INT8,
    PIPELINE_FILE,
    PYTHON_MODEL_FILE,
    PYTHON_MODEL_TEMPLATE,
    PYTHON_MODELS,
    SERVED_CLASSIFIER,
    TEXT_MODELS,
    TEXT_PIPELINE_FILE,
    TOKENIZER,
    TORCHSCRIPT,
    version_folders,
)
from contract.versions import (
    RUN_IDS_PARAMETER,
    loaded_versions,
    repository_lock,
    run_ids_value,
    with_policy,
)
from export.convert import ExportedModel
from export.errors import RepositoryError
from export.metadata import ModelSource, file_digests, manifest_digest, render_config
from export.parity import ParityReport

TEMPLATES = Path(__file__).resolve().parent.parent / "model_repository"
"""The reviewed templates in git: each model's configs, the python models' model.py and
the module they share (text_pipeline.py)."""


@dataclass(frozen=True)
class PublishedVersion:
    """A model version now served from the repository."""

    version: int
    repository: Path
    models: list[str]
    parity: dict[str, Any]
    loaded: list[int]
    """The versions the repository's configs load: the new one only when it is the first
    (or nothing was served); otherwise those loaded before, until a rollout moves traffic."""

    @property
    def live(self) -> bool:
        """Whether the new version is among those Triton loads."""
        return self.version in self.loaded


def resolve_repository(location: str | os.PathLike[str]) -> Path:
    """The local repository path; raises RepositoryError for s3:// and other URLs."""
    text = str(location)
    if "://" in text:
        raise RepositoryError(
            f"cannot publish to {text!r}: only a local model repository is supported. "
            "Publish to a local path, then sync it (for example `aws s3 sync <path> "
            f"{text}`) and point Triton at the bucket."
        )
    return Path(text).expanduser().resolve()


def existing_versions(repository: Path) -> list[int]:
    """All version numbers present in any of the models, ascending, without repeats."""
    found = {int(folder.name) for model in MODELS for folder in version_folders(repository / model)}
    return sorted(found)


def next_version(repository: Path) -> int:
    """One more than the highest version of any model (1 for an empty repository)."""
    return max(existing_versions(repository), default=0) + 1


def template_files(templates: Path, model: str) -> list[Path]:
    """A model's template files to render at its root: all but the python model code and
    a stray labels.txt (label files are written from the version's labels instead)."""
    folder = templates / model
    return sorted(
        p.relative_to(folder)
        for p in folder.rglob("*")
        if p.is_file()
        and p.name not in (PYTHON_MODEL_FILE, LABELS_FILE)
        and "__pycache__" not in p.parts
    )


def label_files(templates: Path, model: str) -> list[Path]:
    """The `label_filename`s that a model's configs name (Triton's classification extension
    reads them from the model's root folder), relative to that folder."""
    names: set[str] = set()
    for config in (templates / model).rglob("*.pbtxt"):
        names.update(re.findall(r'label_filename\s*:\s*"([^"]+)"', config.read_text()))
    return sorted(Path(name) for name in names)


def root_files(
    exported: ExportedModel,
    templates: Path,
    model: str,
    parameters: dict[str, str],
    loaded: list[int],
) -> dict[Path, str]:
    """What a publish writes at a model's root, by relative path: its label files (one
    label per line, in logit order, from the version's contract), then its templates
    with the version's `parameters` and the policy loading `loaded` in every config."""
    labels = "".join(f"{label}\n" for label in exported.labels)
    files = {name: labels for name in label_files(templates, model)}
    for name in template_files(templates, model):
        text = (templates / model / name).read_text()
        if name.suffix == ".pbtxt":
            text = with_policy(render_config(text, parameters), loaded)
        files[name] = text
    return files


def loaded_after_publish(root: Path, version: int) -> list[int]:
    """What the configs load once `version` is published: what they loaded before (a
    repository from before version policies served its newest version), or `version`
    itself in an empty repository. A new version takes traffic only through a rollout."""
    before = loaded_versions(root)
    if before:
        return before
    existing = [v for v in existing_versions(root) if v != version]
    return [max(existing)] if existing else [version]


def run_ids(root: Path, version: int, source: ModelSource) -> dict[int, str]:
    """The MLflow run id of every version in the repository (from the classifier's
    metadata.json; "" when it names none), `version`'s from `source`."""
    found: dict[int, str] = {}
    for folder in version_folders(root / SERVED_CLASSIFIER):
        try:
            metadata = json.loads((folder / METADATA_FILE).read_text())
        except (OSError, ValueError):
            metadata = {}
        run = metadata.get("mlflow", {}).get("run_id") if isinstance(metadata, dict) else None
        found[int(folder.name)] = str(run or "")
    found[version] = source.run_id or ""
    return found


def check_templates(templates: Path) -> None:
    """Raise RepositoryError unless every model's templates are there."""
    if not (templates / TEXT_PIPELINE_FILE).is_file():
        raise RepositoryError(f"templates in {templates} lack {TEXT_PIPELINE_FILE}")
    for model in MODELS:
        folder = templates / model
        required = [CONFIG_FILE, f"{CONFIGS_DIR}/cpu.pbtxt"]
        if model in PYTHON_MODELS and model not in PYTHON_MODEL_TEMPLATE:
            required.append(PYTHON_MODEL_FILE)
        missing = [name for name in required if not (folder / name).is_file()]
        if missing:
            raise RepositoryError(f"templates of {model} in {templates} lack {missing}")


def _stage_version(exported: ExportedModel, templates: Path, model: str, target: Path) -> None:
    """Write a model's version files (all but metadata.json) into `target`, a version
    folder in the staging tree where the models before it in MODELS are staged already."""
    target.mkdir(parents=True)
    sources = {
        ONNX: exported.onnx,
        ONNX_INT8: exported.onnx_int8,
        TORCHSCRIPT: exported.torchscript,
    }
    if model in sources:
        shutil.copy2(sources[model], target / MODEL_FILE[model])
    if model in TEXT_MODELS:  # the classifier's file, linked from its staged version
        classifier = TEXT_MODELS[model]
        staged = target.parent.parent / classifier / target.name / MODEL_FILE[classifier]
        link_or_copy(staged, target / MODEL_FILE[classifier])
    if model in PYTHON_MODELS:
        code = templates / PYTHON_MODEL_TEMPLATE.get(model, model) / PYTHON_MODEL_FILE
        shutil.copy2(code, target / PYTHON_MODEL_FILE)
        shutil.copy2(templates / TEXT_PIPELINE_FILE, target / TEXT_PIPELINE_FILE)
        exported.pipeline.write(target / PIPELINE_FILE)
    tokenizer_dir = exported.pipeline.tokenizer_dir
    if model == TOKENIZER:
        tokenizer = AutoTokenizer.from_pretrained(exported.model_dir)
        tokenizer.save_pretrained(target / tokenizer_dir)
    elif model in TEXT_MODELS:  # the tokenizer model's files, staged first, linked
        shutil.copytree(
            target.parent.parent / TOKENIZER / target.name / tokenizer_dir,
            target / tokenizer_dir,
            copy_function=link_or_copy,
        )


def link_or_copy(source: str | Path, target: str | Path) -> None:
    """A hard link (the same bytes, stored once) where the filesystem allows, else a copy."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


class _Commit:
    """Moves staged paths into the repository and can undo every move it made."""

    def __init__(self, backups: Path) -> None:
        self._backups = backups
        self._undo: list[tuple[Path, Path | None]] = []  # (placed, backup or None)
        self._created: list[Path] = []

    def make_dir(self, folder: Path) -> None:
        missing = [p for p in (folder, *folder.parents) if not p.exists()]
        for path in reversed(missing):  # outermost first, each one recorded for rollback
            path.mkdir()
            self._created.append(path)

    def place(self, staged: Path, target: Path) -> None:
        self.make_dir(target.parent)
        backup: Path | None = None
        if target.is_dir():
            raise RepositoryError(f"{target} already exists")
        if target.exists():
            backup = self._backups / str(len(self._undo))
            shutil.copy2(target, backup)
        os.replace(staged, target)  # atomic for a file; a directory target must not exist
        self._undo.append((target, backup))

    def rollback(self) -> None:
        for target, backup in reversed(self._undo):
            if backup is not None:
                os.replace(backup, target)
            elif target.is_dir():
                shutil.rmtree(target)
            else:
                target.unlink()
        for folder in reversed(self._created):
            folder.rmdir()


def publish(
    exported: ExportedModel,
    report: ParityReport,
    repository: str | os.PathLike[str],
    source: ModelSource | None = None,
    templates: Path = TEMPLATES,
    serve: bool = False,
) -> PublishedVersion:
    """Publish `exported` as the next version of every model (`MODELS`) in `repository`.

    The configs keep loading what they loaded (a new version takes traffic through a
    rollout, docs/rollouts.md), except in an empty repository or with `serve`: then they
    load the new version only (for a repository whose served version this release cannot
    serve, such as `make model`'s re-export of an older pipeline format).

    `templates` holds each model's config.pbtxt, configs/cpu.pbtxt and, for the python
    models, model.py (default: the project's `model_repository/`). The python models get
    the version's pipeline.json; models whose configs name a `label_filename` get that
    file, written from the same labels.
    """
    source = source or ModelSource()
    root = resolve_repository(repository)
    check_templates(templates)
    created_root = not root.exists()
    root.mkdir(parents=True, exist_ok=True)
    try:
        with repository_lock(root):
            return _publish_locked(exported, report, root, source, templates, serve)
    except BaseException:
        if created_root and not any(root.iterdir()):
            root.rmdir()
        raise


def _publish_locked(
    exported: ExportedModel,
    report: ParityReport,
    root: Path,
    source: ModelSource,
    templates: Path,
    serve: bool,
) -> PublishedVersion:
    version = next_version(root)
    loaded = [version] if serve else loaded_after_publish(root, version)
    runs = run_ids_value(run_ids(root, version, source))
    staging = Path(tempfile.mkdtemp(prefix=f".staging-{version}-", dir=root))
    try:
        digests: dict[str, str] = {}
        at_root: dict[str, dict[Path, str]] = {}
        created_at = datetime.now(UTC).isoformat(timespec="seconds")
        for model in MODELS:
            staged = staging / model
            _stage_version(exported, templates, model, staged / str(version))
            files = file_digests(staged / str(version))
            digests[model] = manifest_digest(files)
            parity = report.models[model if model in report.models else SERVED_CLASSIFIER]
            metadata = {
                "model": model,
                "version": version,
                "created_at": created_at,
                "mlflow": {
                    "run_id": source.run_id,
                    "model_name": source.model_name,
                    "model_version": source.model_version,
                },
                "files": files,
                "sha256": digests[model],
                "parity": report.as_dict(),
                "labels": list(exported.labels),
                "max_length": exported.max_length,
                "pipeline_format": exported.pipeline.format_version,
                "export_settings": exported.settings.as_dict(),
            }
            (staged / str(version) / METADATA_FILE).write_text(json.dumps(metadata, indent=2))
            parameters = {
                "version": str(version),
                "mlflow_run_id": source.run_id or "",
                "mlflow_model_name": source.model_name or "",
                "mlflow_model_version": source.model_version or "",
                "sha256": digests[model],
                "parity_max_abs_diff": f"{parity.max_abs_diff:.3e}",
                "parity_label_agreement": f"{parity.label_agreement:.4f}",
                RUN_IDS_PARAMETER: runs,
            }
            at_root[model] = root_files(exported, templates, model, parameters, loaded)
            for name, text in at_root[model].items():
                (staged / name).parent.mkdir(parents=True, exist_ok=True)
                (staged / name).write_text(text)
        backups = staging / ".backups"
        backups.mkdir()
        commit = _Commit(backups)
        try:
            for model in MODELS:  # leaf models first, the text-in models last
                commit.place(staging / model / str(version), root / model / str(version))
                for name in at_root[model]:
                    commit.place(staging / model / name, root / model / name)
        except BaseException:
            commit.rollback()
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    for stale in root.glob(".staging-*"):  # left by a killed publish; we hold the lock
        shutil.rmtree(stale, ignore_errors=True)
    return PublishedVersion(
        version=version,
        repository=root,
        models=list(MODELS),
        parity=report.as_dict(),
        loaded=loaded,
    )
