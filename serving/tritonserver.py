"""Run the real Triton Inference Server (the binary in the nvidia-pytriton wheel).

`TritonServer` starts `tritonserver` on a model repository with a backend directory built
under the state dir, waits until it is ready and stops it with SIGTERM; `serve()` is the
foreground `sentiment triton` command; `load_models()` asks a running server to (re)load
models through the repository API so a newly published version serves without restart.

A started server listens on its bind address only (127.0.0.1 unless configured) and
restricts its model-repository API (index, load, unload) to callers that send the admin
key (`serving.admin`): a Python model is arbitrary code, so loading one is an admin act.
With a `TritonTracing` it runs in its OpenTelemetry trace mode (docs/tracing.md).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType, TracebackType

from config.settings import PROJECT_ROOT, PipelineSettings
from config.triton import ADMIN_HEADER, join_address, local_host
from contract.layout import (
    CLASSIFIER_PARAMETER,
    CONFIG_FILE,
    CONFIGS_DIR,
    TEXT_MODELS,
    is_model_folder,
    is_remote,
)
from serving.admin import NEEDS_ADMIN_KEY, admin_key, http_headers, new_admin_key

PROJECT_BACKENDS = PROJECT_ROOT / "backends"
"""Python-based CPU backends kept in git (`onnxruntime/model.py`, `pytorch/model.py`) and
the helper module they share (`shared/cpu_backend.py`)."""

PYTHON_BASED_BACKENDS = ("onnxruntime", "pytorch")
SHARED_BACKEND_MODULE = Path("shared") / "cpu_backend.py"
"""Copied next to each backend's model.py: the Python backend stub puts a backend's own
folder on `sys.path`, so each model.py imports it as `cpu_backend`."""
CPU_CONFIG_NAME = "cpu"
LOG_TAIL_LINES = 40
RESTRICTED_APIS = "model-repository"
"""Triton's API group of the repository index, load and unload: the one that needs the
admin key. Health, metadata, model config, statistics and inference stay open."""


@dataclass(frozen=True)
class TritonTracing:
    """Triton's OpenTelemetry trace mode: spans of each traced request (the request, each
    model, each compute step) sent to an OTLP/HTTP collector.

    Triton 2.51 continues the W3C `traceparent` a request carries, and traces every
    request that carries one whatever `rate` says (its flags included: send it only for
    sampled traces). `rate` is for requests without one: every rate-th is traced; 0, the
    default, traces only those, so the gateway's sampling decides for both processes.
    """

    url: str
    """The collector's traces URL (`http://collector:4318/v1/traces`). Triton posts
    OTLP/HTTP JSON there; collectors take JSON and protobuf on the same path."""
    service_name: str = "sentiment-triton"
    rate: int = 0

    def args(self) -> list[str]:
        """tritonserver's `--trace-config` arguments."""
        settings = (
            "mode=opentelemetry",
            "level=TIMESTAMPS",
            f"rate={self.rate}",
            "count=-1",
            f"opentelemetry,url={self.url}",
            f"opentelemetry,resource=service.name={self.service_name}",
        )
        return [arg for setting in settings for arg in ("--trace-config", setting)]


class TritonServerError(RuntimeError):
    """Triton could not be found, started, or did not become ready.

    The message is one line; `log_tail` keeps the server's last log lines when it ran.
    """

    def __init__(self, message: str, log_tail: str = "") -> None:
        super().__init__(message)
        self.log_tail = log_tail


@dataclass(frozen=True)
class TritonInstallation:
    """Where the nvidia-pytriton wheel keeps the server and its Python backend."""

    root: Path
    """`<site-packages>/pytriton/tritonserver`."""
    libs: Path
    """`<site-packages>/nvidia_pytriton.libs`: shared libraries for LD_LIBRARY_PATH."""

    @classmethod
    def find(cls) -> TritonInstallation:
        site = Path(sysconfig.get_paths()["purelib"])
        installation = cls(site / "pytriton" / "tritonserver", site / "nvidia_pytriton.libs")
        if not installation.binary.is_file():
            raise TritonServerError(
                f"tritonserver not found at {installation.binary}: install nvidia-pytriton==0.7.0"
            )
        return installation

    @property
    def binary(self) -> Path:
        return self.root / "bin" / "tritonserver"

    @property
    def python_backend(self) -> Path:
        return self.root / "backends" / "python"

    def python_stub(self) -> Path:
        """The Python-backend stub built for this interpreter's version."""
        version = f"{sys.version_info.major}.{sys.version_info.minor}"
        stub = self.root / "python_backend_stubs" / version / "triton_python_backend_stub"
        if not stub.is_file():
            raise TritonServerError(f"no Python backend stub for Python {version} at {stub}")
        return stub


def build_backend_directory(
    target: Path, installation: TritonInstallation, sources: Path = PROJECT_BACKENDS
) -> Path:
    """Create Triton's --backend-directory: `python/` and the Python-based CPU backends.

    `python/` gets libtriton_python.so, triton_python_backend_utils.py and the stub for
    this Python version next to them; `onnxruntime/` and `pytorch/` get their model.py from
    `sources` and, next to it, the helper module they share. Rebuilt on every start so
    edited backends take effect.
    """
    python_dir = target / "python"
    python_dir.mkdir(parents=True, exist_ok=True)
    for name in ("libtriton_python.so", "triton_python_backend_utils.py"):
        shutil.copy2(installation.python_backend / name, python_dir / name)
    stub = python_dir / "triton_python_backend_stub"
    shutil.copy2(installation.python_stub(), stub)
    stub.chmod(0o755)
    shared = sources / SHARED_BACKEND_MODULE
    for backend in PYTHON_BASED_BACKENDS:
        source = sources / backend / "model.py"
        for required in (source, shared):
            if not required.is_file():
                raise TritonServerError(f"missing Python-based backend file {required}")
        (target / backend).mkdir(exist_ok=True)
        shutil.copy2(source, target / backend / "model.py")
        shutil.copy2(shared, target / backend / shared.name)
    return target


def has_gpu() -> bool:
    """True when an NVIDIA GPU is visible (device node or a working nvidia-smi)."""
    if Path("/dev/nvidia0").exists():
        return True
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return False
    try:
        result = subprocess.run([smi, "-L"], capture_output=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0 and b"GPU" in result.stdout


def repository_models(repository: Path) -> list[str]:
    """Model folders in a repository (those holding config.pbtxt or configs/), sorted."""
    if not repository.is_dir():
        return []
    return sorted(entry.name for entry in repository.iterdir() if is_model_folder(entry))


@dataclass
class TritonServer:
    """One tritonserver process on a local model repository (a context manager)."""

    repository: Path | str
    """A local folder, or a cloud URL (s3://, gs://, as://) that Triton reads itself."""
    work_dir: Path
    """Holds `backends/` and, unless `log_file` says otherwise, `tritonserver.log`."""
    http_port: int = 8000
    grpc_port: int = 8001
    metrics_port: int = 8002
    bind_address: str = "127.0.0.1"
    """Where HTTP, gRPC and metrics listen (`0.0.0.0`: every interface)."""
    admin_key: str = field(default_factory=new_admin_key, repr=False)
    """The `sentiment-admin-key` header value the model-repository API requires; by
    default a fresh key that only this object knows."""
    config_name: str | None = None
    """`--model-config-name`; None picks `cpu` when no GPU is visible."""
    models: Sequence[str] | None = None
    """Models to load at start (explicit mode); None loads every model in the repository."""
    log_file: Path | None = None
    """Server output; None means `<work_dir>/tritonserver.log`."""
    exit_timeout_s: int = 10
    """How long SIGTERM waits for in-flight requests and open client connections."""
    tracing: TritonTracing | None = None
    """OpenTelemetry trace mode; None: no traces."""
    extra_args: Sequence[str] = ()
    installation: TritonInstallation = field(default_factory=TritonInstallation.find)
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    @classmethod
    def from_settings(cls, settings: PipelineSettings, **overrides: object) -> TritonServer:
        """A server on the settings' repository, Triton ports and state dir."""
        location = settings.repository_path()
        values: dict[str, object] = {
            "repository": location if is_remote(location) else Path(location),
            "work_dir": settings.state_dir / "triton",
            "http_port": settings.triton.http_port,
            "grpc_port": settings.triton.grpc_port,
            "metrics_port": settings.triton.metrics_port,
            "bind_address": settings.triton.bind_address,
            "admin_key": admin_key(settings, create=True),
        }
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]

    @property
    def http_url(self) -> str:
        return join_address(local_host(self.bind_address), self.http_port)

    @property
    def grpc_url(self) -> str:
        return join_address(local_host(self.bind_address), self.grpc_port)

    @property
    def metrics_url(self) -> str:
        return join_address(local_host(self.bind_address), self.metrics_port)

    @property
    def log_path(self) -> Path:
        return self.log_file or self.work_dir / "tritonserver.log"

    def command(self) -> list[str]:
        """The tritonserver command line (builds the backend directory)."""
        backends = build_backend_directory(self.work_dir / "backends", self.installation)
        config_name = self.config_name
        if config_name is None and not has_gpu():
            config_name = CPU_CONFIG_NAME
        if self.models is not None:
            models = list(self.models)
        elif is_remote(self.repository):
            models = ["*"]  # explicit mode's "load everything" for a repository we cannot list
        else:
            models = repository_models(Path(self.repository))
        args = [
            str(self.installation.binary),
            f"--model-repository={self.repository}",
            f"--backend-directory={backends}",
            "--model-control-mode=explicit",
            *(f"--load-model={name}" for name in models),
            f"--http-address={self.bind_address}",
            f"--http-port={self.http_port}",
            f"--grpc-address={self.bind_address}",
            f"--grpc-port={self.grpc_port}",
            f"--metrics-address={self.bind_address}",
            f"--metrics-port={self.metrics_port}",
            # Over gRPC Triton expects the header as `triton-grpc-protocol-<header>`.
            f"--http-restricted-api={RESTRICTED_APIS}:{ADMIN_HEADER}={self.admin_key}",
            f"--grpc-restricted-protocol={RESTRICTED_APIS}:{ADMIN_HEADER}={self.admin_key}",
            "--strict-readiness=true",
            f"--exit-timeout-secs={self.exit_timeout_s}",
            # Distinct shared-memory names let several servers share one host.
            f"--backend-config=python,shm-region-prefix-name=sentiment_{os.getpid()}_{self.http_port}_",
        ]
        if config_name:
            args.append(f"--model-config-name={config_name}")
        if self.tracing is not None:
            args += self.tracing.args()
        return [*args, *self.extra_args]

    def environment(self) -> dict[str, str]:
        """LD_LIBRARY_PATH for the wheel's libraries; this venv's bin/ first on PATH.

        The Python-backend stub finds its site-packages from the first `python3` on PATH
        (it ignores PYTHONPATH), so the venv running this code must come first.
        """
        env = dict(os.environ)
        libs = [str(self.installation.libs)]
        if env.get("LD_LIBRARY_PATH"):
            libs.append(env["LD_LIBRARY_PATH"])
        env["LD_LIBRARY_PATH"] = os.pathsep.join(libs)
        env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
        env.setdefault("TOKENIZERS_PARALLELISM", "false")
        return env

    def start(self, log_to_terminal: bool = False) -> TritonServer:
        """Launch the process (does not wait for readiness)."""
        if self.process is not None and self.process.poll() is None:
            raise TritonServerError("this TritonServer is already running")
        if not is_remote(self.repository) and not Path(self.repository).is_dir():
            raise TritonServerError(f"model repository {self.repository} does not exist")
        self.work_dir.mkdir(parents=True, exist_ok=True)
        command = self.command()
        output = None
        if not log_to_terminal:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            output = self.log_path.open("wb")
        try:
            self.process = subprocess.Popen(
                command, env=self.environment(), stdout=output, stderr=subprocess.STDOUT
            )
        finally:
            if output is not None:
                output.close()
        return self

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        """The last lines of the server log ('' when logging to the terminal)."""
        if not self.log_path.is_file():
            return ""
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def last_error(self) -> str:
        """The root cause from the server log: Triton's fatal `error: ...` line, else its
        first `E<date>` error line that is not a CPU box's CUDA/NVML notice, else the
        log's last line."""
        if not self.log_path.is_file():
            return "no log output"
        text = self.log_path.read_text(errors="replace")
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        fatal = [line for line in lines if line.startswith("error: ")]
        errors = [
            line
            for line in lines
            if re.match(r"E\d{4} ", line) and not re.search(r"(?i)cuda|nvml|dcgm", line)
        ]
        chosen = (fatal[-1:] or errors[:1] or lines[-1:] or ["no log output"])[0]
        return chosen if len(chosen) <= 300 else chosen[:297] + "..."

    def wait_ready(self, timeout: float = 120.0) -> None:
        """Block until the server reports ready; raise with the log tail if it dies."""
        import tritonclient.http as httpclient

        if self.process is None:
            raise TritonServerError("start() the server first")
        client = httpclient.InferenceServerClient(self.http_url, network_timeout=5.0)
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                code = self.process.poll()
                if code is not None:
                    raise TritonServerError(
                        f"tritonserver exited with code {code} before it was ready: "
                        f"{self.last_error()} (log: {self.log_path})",
                        log_tail=self.log_tail(),
                    )
                with contextlib.suppress(Exception):  # not listening yet
                    if client.is_server_ready():
                        return
                time.sleep(0.5)
        finally:
            client.close()
        raise TritonServerError(
            f"tritonserver not ready after {timeout:.0f}s: {self.last_error()} "
            f"(log: {self.log_path})",
            log_tail=self.log_tail(),
        )

    def stop(self, timeout: float | None = None) -> int | None:
        """SIGTERM, wait (default: exit timeout + 20 s), then SIGKILL. Returns the exit code."""
        process = self.process
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(self.exit_timeout_s + 20 if timeout is None else timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        return process.returncode

    def __enter__(self) -> TritonServer:
        if self.process is None:
            self.start()
        self.wait_ready()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def serve(settings: PipelineSettings) -> int:
    """Run Triton in the foreground (`sentiment triton`); return its exit code.

    SIGTERM and SIGINT are forwarded to the server, which drains and exits.
    """
    server = TritonServer.from_settings(settings)
    server.start(log_to_terminal=True)
    process = server.process
    assert process is not None

    def forward(signum: int, frame: FrameType | None) -> None:
        if process.poll() is None:
            process.send_signal(signum)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        while True:
            try:
                return process.wait()
            except KeyboardInterrupt:  # a second Ctrl-C before the handler was installed
                forward(signal.SIGINT, None)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _calls_other_models(location: str, name: str) -> bool:
    """An ensemble, or a text-in model calling its classifier: it loads after the rest."""
    if is_remote(location):
        return name in TEXT_MODELS  # a remote config cannot be read: the project's models
    repository = Path(location)
    configs = [repository / name / CONFIG_FILE, *(repository / name / CONFIGS_DIR).glob("*")]
    marks = ('platform: "ensemble"', f'"{CLASSIFIER_PARAMETER}"')
    return any(
        path.is_file() and any(mark in path.read_text() for mark in marks) for path in configs
    )


def load_models(
    settings: PipelineSettings, models: Iterable[str], url: str | None = None
) -> list[str]:
    """Ask a running Triton to (re)load `models`; [] when no server answers at the URL.

    Triton reloads a model in place (the old version serves until the new one is
    ready), so a newly published version goes live without a restart. The steps load in
    parallel, ensembles after them so they see their steps' new versions. Each call sends
    the admin key (`serving.admin.admin_key`). Returns the names in load order; raises
    TritonServerError when a model fails to load or the server refuses the key.
    """
    import tritonclient.http as httpclient

    address = url or settings.triton.http_address
    key = admin_key(settings)
    location = settings.repository_path()
    names = list(models)
    ensembles = [name for name in names if _calls_other_models(location, name)]
    steps = [name for name in names if name not in ensembles]
    probe = httpclient.InferenceServerClient(address, network_timeout=10.0)
    try:
        probe.is_server_live()
    except Exception:  # nothing listening: nothing to reload
        return []
    finally:
        probe.close()
    with ThreadPoolExecutor(max_workers=max(1, len(steps))) as pool:
        list(pool.map(lambda name: _load_one(address, name, key), steps))
    for name in ensembles:
        _load_one(address, name, key)
    return [*steps, *ensembles]


def _load_one(url: str, name: str, key: str | None) -> None:
    import tritonclient.http as httpclient
    from tritonclient.utils import InferenceServerException

    # One client per call: the HTTP client is not safe to share between threads.
    client = httpclient.InferenceServerClient(url, network_timeout=600.0)
    try:
        client.load_model(name, headers=http_headers(key))
    except InferenceServerException as err:
        if err.status() == "403":
            raise TritonServerError(
                f"Triton at {url} refused to load {name}: {NEEDS_ADMIN_KEY}"
            ) from err
        raise TritonServerError(f"Triton failed to load {name}: {err}") from err
    finally:
        client.close()
