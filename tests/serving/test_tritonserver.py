"""The launcher: backend directory, command line, and failing loudly."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.settings import PROJECT_ROOT
from serving.tritonserver import (
    PYTHON_BASED_BACKENDS,
    SHARED_BACKEND_MODULE,
    TritonInstallation,
    TritonServer,
    TritonServerError,
    build_backend_directory,
    repository_models,
)


def test_backend_directory_holds_python_backend_and_cpu_backends(tmp_path: Path) -> None:
    backends = build_backend_directory(tmp_path / "backends", TritonInstallation.find())
    for name in (
        "libtriton_python.so",
        "triton_python_backend_utils.py",
        "triton_python_backend_stub",
    ):
        assert (backends / "python" / name).is_file()
    shared = (PROJECT_ROOT / "backends" / SHARED_BACKEND_MODULE).read_bytes()
    for backend in PYTHON_BASED_BACKENDS:  # each model.py imports the helper next to it
        assert (backends / backend / "model.py").is_file()
        assert (backends / backend / SHARED_BACKEND_MODULE.name).read_bytes() == shared


def test_command_loads_every_model_explicitly_with_the_cpu_config(tmp_path: Path) -> None:
    for name in ("b_model", "a_model"):
        (tmp_path / "repo" / name).mkdir(parents=True)
        (tmp_path / "repo" / name / "config.pbtxt").write_text("")
    (tmp_path / "repo" / "not_a_model").mkdir()
    assert repository_models(tmp_path / "repo") == ["a_model", "b_model"]
    server = TritonServer(tmp_path / "repo", tmp_path / "work", 9100, 9101, 9102, config_name="cpu")
    command = server.command()
    assert "--model-control-mode=explicit" in command
    assert [a for a in command if a.startswith("--load-model")] == [
        "--load-model=a_model",
        "--load-model=b_model",
    ]
    assert "--model-config-name=cpu" in command
    assert "--http-port=9100" in command and "--grpc-port=9101" in command
    env = server.environment()
    assert env["PATH"].split(":")[0].endswith("/bin")
    assert "nvidia_pytriton.libs" in env["LD_LIBRARY_PATH"]


@pytest.mark.triton
def test_a_model_that_fails_to_load_stops_startup_with_the_log_tail(
    tmp_path: Path, fresh_ports: list[int]
) -> None:
    model = tmp_path / "repo" / "broken"
    (model / "1").mkdir(parents=True)
    (model / "config.pbtxt").write_text('name: "broken"\nbackend: "python"\nmax_batch_size: 1\n')
    (model / "1" / "model.py").write_text("raise RuntimeError('boom at import')\n")
    http, grpc, metrics = fresh_ports
    server = TritonServer(tmp_path / "repo", tmp_path / "work", http, grpc, metrics)
    server.start()
    try:
        with pytest.raises(TritonServerError) as error:
            server.wait_ready(timeout=60)
    finally:
        server.stop()
    message = str(error.value)
    assert "exited with code" in message and "boom at import" in message
    assert "\n" not in message  # one line for the CLI; the tail stays on the error
    assert "boom at import" in error.value.log_tail


def test_missing_repository_is_refused(tmp_path: Path) -> None:
    with pytest.raises(TritonServerError, match="does not exist"):
        TritonServer(tmp_path / "nope", tmp_path / "work").start()
