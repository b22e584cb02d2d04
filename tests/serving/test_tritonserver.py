"""The launcher: backend directory, command line, and failing loudly."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.settings import PROJECT_ROOT, PipelineSettings
from serving.admin import ADMIN_KEY_FILE, admin_key
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
    # Loopback only unless told otherwise, for each of the three listeners.
    for listener in ("http", "grpc", "metrics"):
        assert f"--{listener}-address=127.0.0.1" in command
    assert server.http_url == "127.0.0.1:9100" and server.metrics_url == "127.0.0.1:9102"
    env = server.environment()
    assert env["PATH"].split(":")[0].endswith("/bin")
    assert "nvidia_pytriton.libs" in env["LD_LIBRARY_PATH"]


def test_command_restricts_the_model_repository_api_to_the_admin_key(tmp_path: Path) -> None:
    (tmp_path / "repo").mkdir()
    server = TritonServer(tmp_path / "repo", tmp_path / "work", admin_key="k" * 40)
    command = server.command()
    assert "--http-restricted-api=model-repository:sentiment-admin-key=" + "k" * 40 in command
    assert "--grpc-restricted-protocol=model-repository:sentiment-admin-key=" + "k" * 40 in command
    assert "k" * 40 not in repr(server)
    # Without a key given, each server makes its own: the API is never left open.
    first, second = (TritonServer(tmp_path / "repo", tmp_path / "w") for _ in range(2))
    assert len(first.admin_key) == 64 and first.admin_key != second.admin_key


def test_from_settings_takes_bind_address_and_the_local_admin_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SENTIMENT_TRITON_ADMIN_KEY", raising=False)
    monkeypatch.setenv("SENTIMENT_TRITON_BIND_ADDRESS", "0.0.0.0")
    settings = PipelineSettings(state_dir=tmp_path)
    server = TritonServer.from_settings(settings)
    assert server.bind_address == "0.0.0.0"
    assert "--grpc-address=0.0.0.0" in server.command()
    assert server.grpc_url.startswith("127.0.0.1:")  # reached locally on loopback
    local_key = (tmp_path / ADMIN_KEY_FILE).read_text().strip()
    assert server.admin_key == admin_key(settings) == local_key


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
