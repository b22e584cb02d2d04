"""`sentiment models`: what the model repository holds and what a running Triton serves.

`inventory()` reads the repository (models, versions, each version's metadata.json, the
newest complete version's pipeline format) and, when a server answers, its repository
index (state of every model version) and readiness. Everything is returned as plain
dataclasses; `render()` turns them into a text table. `make model` re-exports when the
newest version's pipeline format is not this release's (`pipeline_current`).
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from config.settings import PipelineSettings
from contract.layout import (
    METADATA_FILE,
    PIPELINE_FILE,
    TOKENIZER,
    is_model_folder,
    is_remote,
    version_folders,
)
from contract.pipeline import PIPELINE_FORMAT_VERSION, Pipeline, PipelineError
from serving.admin import NEEDS_ADMIN_KEY, admin_key, http_headers


@dataclass(frozen=True)
class RepositoryVersion:
    """One version folder of a model in the repository."""

    version: int
    files: list[str]
    """Paths relative to the version folder."""
    metadata: dict[str, Any]
    """The version's metadata.json ({} when absent or unreadable)."""

    def summary(self, model: str) -> dict[str, Any]:
        """The metadata values worth a column (MLflow source, this model's parity)."""
        return summarize_metadata(model, self.metadata)


@dataclass(frozen=True)
class RepositoryModel:
    """One model folder of the repository."""

    name: str
    kind: str
    """`backend` or `platform` from its config (python, onnxruntime, pytorch, ensemble)."""
    versions: list[RepositoryVersion]

    @property
    def latest(self) -> RepositoryVersion | None:
        return self.versions[-1] if self.versions else None


@dataclass(frozen=True)
class ServedModel:
    """One entry of the running server's repository index."""

    name: str
    version: str
    state: str
    reason: str = ""
    ready: bool = False


@dataclass
class RepositoryReport:
    """The served repository on disk."""

    path: str
    models: list[RepositoryModel] = field(default_factory=list)
    latest_version: int | None = None
    """Newest version present in every model (one complete publish); None if none."""
    pipeline_format: int | None = None
    """Format of that version's pipeline.json (1: from before formats were numbered);
    None without a complete version or a readable file."""
    pipeline_current: bool = False
    """Whether that version's pipeline.json is this release's format; when it is not, the
    version was exported by another release: `make model` re-exports it."""
    expected_pipeline_format: int = PIPELINE_FORMAT_VERSION
    """The format this release writes and reads."""


@dataclass
class ServerReport:
    """The running server's view (repository index and readiness)."""

    url: str
    ready: bool | None = None
    """None when no server answered."""
    models: list[ServedModel] = field(default_factory=list)
    error: str | None = None


@dataclass
class Inventory:
    """The repository on disk and, when reachable, the server's view of it."""

    repository: RepositoryReport
    server: ServerReport

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def complete_version(models: list[RepositoryModel]) -> int | None:
    """The highest version number that every model holds."""
    if not models:
        return None
    common = set.intersection(*({v.version for v in m.versions} for m in models))
    return max(common) if common else None


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def summarize_metadata(model: str, metadata: dict[str, Any]) -> dict[str, Any]:
    """MLflow run/model/version, creation time and `model`'s parity from a metadata.json.

    Accepts the export's nested layout (`mlflow: {run_id, ...}`, `parity: {models: {...}}`)
    and the flat `mlflow_*` / `parity_*` names rendered into config parameters.
    """
    mlflow = _mapping(metadata.get("mlflow"))
    parity = _mapping(metadata.get("parity"))
    own = _mapping(_mapping(parity.get("models")).get(model))
    summary = {
        "mlflow_run_id": metadata.get("mlflow_run_id", mlflow.get("run_id")),
        "mlflow_model_name": metadata.get("mlflow_model_name", mlflow.get("model_name")),
        "mlflow_model_version": metadata.get("mlflow_model_version", mlflow.get("model_version")),
        "created_at": metadata.get("created_at"),
        "parity_max_abs_diff": metadata.get("parity_max_abs_diff", own.get("max_abs_diff")),
        "parity_label_agreement": metadata.get(
            "parity_label_agreement", own.get("label_agreement")
        ),
    }
    return {key: value for key, value in summary.items() if value is not None}


def _model_kind(folder: Path) -> str:
    for config in (folder / "config.pbtxt", *sorted((folder / "configs").glob("*.pbtxt"))):
        if config.is_file():
            text = config.read_text()
            match = re.search(r'^\s*(?:backend|platform)\s*:\s*"([^"]+)"', text, re.MULTILINE)
            if match:
                return match.group(1)
    return "?"


def _read_metadata(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def pipeline_format(repository: Path, version: int | None) -> int | None:
    """The format of `version`'s pipeline.json (the tokenizer's copy); None if unreadable."""
    if version is None:
        return None
    try:
        return Pipeline.read(repository / TOKENIZER / str(version) / PIPELINE_FILE).format_version
    except PipelineError:
        return None


def read_repository(repository: Path) -> list[RepositoryModel]:
    """Models (folders with a config) and their numbered version folders, sorted."""
    if not repository.is_dir():
        return []
    models = []
    for folder in sorted(p for p in repository.iterdir() if is_model_folder(p)):
        versions = []
        for entry in version_folders(folder):
            files = sorted(str(f.relative_to(entry)) for f in entry.rglob("*") if f.is_file())
            versions.append(
                RepositoryVersion(int(entry.name), files, _read_metadata(entry / METADATA_FILE))
            )
        models.append(RepositoryModel(folder.name, _model_kind(folder), versions))
    return models


def read_server(
    url: str, key: str | None = None
) -> tuple[bool | None, list[ServedModel], str | None]:
    """(ready, index entries, error) from the Triton at `url`; (None, [], why) if down.

    The index is part of Triton's restricted model-repository API: `key` is the admin key
    (`serving.admin`). A server that refuses it reports (ready, [], why).
    """
    import tritonclient.http as httpclient
    from tritonclient.utils import InferenceServerException

    client = httpclient.InferenceServerClient(url, network_timeout=10.0)
    try:
        ready = bool(client.is_server_ready())
        try:
            index = client.get_model_repository_index(headers=http_headers(key))
        except InferenceServerException as err:
            if err.status() != "403":
                raise
            return ready, [], f"repository index refused: {NEEDS_ADMIN_KEY}"
        served = []
        for entry in index:
            name, version = entry.get("name", ""), entry.get("version", "")
            state = entry.get("state", "UNAVAILABLE")
            model_ready = state == "READY" and bool(client.is_model_ready(name, version))
            served.append(ServedModel(name, version, state, entry.get("reason", ""), model_ready))
        return ready, served, None
    except Exception as err:  # unreachable or refusing: report, never raise
        return None, [], f"{type(err).__name__}: {err}"
    finally:
        client.close()


def inventory(settings: PipelineSettings, query_server: bool = True) -> Inventory:
    """What the configured repository holds and what the configured server reports."""
    path = settings.repository_path()
    models = [] if is_remote(path) else read_repository(Path(path))
    latest = complete_version(models)
    found = None if is_remote(path) else pipeline_format(Path(path), latest)
    report = RepositoryReport(
        path, models, latest, found, pipeline_current=found == PIPELINE_FORMAT_VERSION
    )
    server = ServerReport(url=settings.triton.http_address)
    if query_server:
        server.ready, server.models, server.error = read_server(server.url, admin_key(settings))
    return Inventory(report, server)


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    line = "  ".join(f"{{:<{w}}}" for w in widths)
    return [line.format(*header).rstrip(), *(line.format(*row).rstrip() for row in rows)]


def _number(value: Any) -> str:
    return f"{value:.2e}" if isinstance(value, float) else "-"


def render(report: Inventory) -> str:
    """A plain-text view: repository table, then server table."""
    repository, server = report.repository, report.server
    latest = repository.latest_version
    lines = [f"Repository {repository.path} (latest complete version: {latest or '-'})"]
    if latest and not repository.pipeline_current:
        lines.append(
            f"  pipeline format {repository.pipeline_format or 'unknown'}, this release "
            f"serves format {repository.expected_pipeline_format}: re-export it (`make model`)"
        )
    rows = []
    for model in repository.models:
        newest = model.latest
        summary = newest.summary(model.name) if newest else {}
        rows.append(
            [
                model.name,
                model.kind,
                ",".join(str(v.version) for v in model.versions) or "-",
                str(summary.get("mlflow_model_version", "-")),
                str(summary.get("mlflow_run_id", "-"))[:12],
                _number(summary.get("parity_max_abs_diff")),
            ]
        )
    if rows:
        header = ["MODEL", "KIND", "VERSIONS", "MLFLOW VERSION", "RUN", "PARITY MAX DIFF"]
        lines += _table(header, rows)
    else:
        lines.append("  (no models: run `sentiment export`)")
    lines.append("")
    if server.ready is None:
        lines.append(f"Triton {server.url}: not reachable ({server.error})")
        return "\n".join(lines)
    lines.append(f"Triton {server.url}: {'ready' if server.ready else 'NOT ready'}")
    if server.error:
        lines.append(f"  {server.error}")
    served = [
        [s.name, s.version or "-", s.state, "yes" if s.ready else "no", s.reason]
        for s in server.models
    ]
    lines += _table(["MODEL", "VERSION", "STATE", "READY", "REASON"], served) if served else []
    return "\n".join(lines)


def models_not_ready(
    settings: PipelineSettings, models: list[str], version: str, url: str | None = None
) -> list[str]:
    """Those of `models` whose `version` the Triton at `url` does not report ready."""
    import tritonclient.http as httpclient

    client = httpclient.InferenceServerClient(
        url or settings.triton.http_address, network_timeout=10.0
    )
    try:
        return [name for name in models if not _ready(client, name, version)]
    finally:
        client.close()


def _ready(client: object, name: str, version: str) -> bool:
    try:
        return bool(client.is_model_ready(name, version))  # type: ignore[attr-defined]
    except Exception:  # not loaded, or no answer: not ready
        return False
