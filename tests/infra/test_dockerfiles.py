"""Images: hadolint-clean Dockerfiles with the properties the deployment relies on."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path
from types import ModuleType

import pytest

from config.triton import ADMIN_HEADER

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "infra" / "docker"
DOCKERFILES = sorted(DOCKER.glob("*.Dockerfile"))
# The first NGC Triton release with the fixes of NVIDIA's August 2025 Triton security
# bulletin (Python backend, HTTP server): no older image may be deployed.
FIRST_PATCHED_NGC_RELEASE = (25, 7)
NGC_TRITON_IMAGE = re.compile(r"(?:nvcr\.io/nvidia/)?tritonserver:(\d\d)\.(\d\d)(-[a-z0-9-]+)?")


def read(name: str) -> str:
    return (DOCKER / name).read_text()


def instructions(text: str, keyword: str) -> list[str]:
    joined = re.sub(r"\\\n\s*", " ", text)
    return [line.strip() for line in joined.splitlines() if line.strip().startswith(keyword)]


def test_all_images_present() -> None:
    names = {path.name for path in DOCKERFILES}
    assert {"gateway.Dockerfile", "triton.Dockerfile", "pipeline.Dockerfile"} <= names


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_hadolint(dockerfile: Path, hadolint: str) -> None:
    result = subprocess.run(
        [hadolint, "--no-color", str(dockerfile)], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stdout + result.stderr


def pinned_base(image: str, stages: set[str]) -> bool:
    """Whether a FROM names an image by an explicit tag other than latest, or by digest.

    Digests are not written here: this machine reaches no registry, so the release step
    records them (docs/deployment.md, "Base image digests").
    """
    if image in stages:  # an earlier stage of the same Dockerfile
        return True
    if "$" in image:  # a build argument could name any image
        return False
    name, _, digest = image.partition("@")
    if digest:
        return re.fullmatch(r"sha256:[0-9a-f]{64}", digest) is not None
    last = name.rsplit("/", 1)[-1]  # a registry's host:port is not a tag
    return ":" in last and last.rsplit(":", 1)[1] not in ("", "latest")


@pytest.mark.parametrize(
    ("image", "pinned"),
    [
        ("python:3.11.10-slim-bookworm", True),
        ("nvcr.io/nvidia/tritonserver:25.07-py3", True),
        ("python@sha256:" + "a" * 64, True),
        ("python:3.11.10-slim-bookworm@sha256:" + "0" * 64, True),
        ("build", True),  # a stage
        ("python", False),
        ("python:latest", False),
        ("localhost:5000/sentiment", False),
        ("localhost:5000/sentiment:latest", False),
        ("python@sha256:abc", False),
        ("${BASE_IMAGE}", False),
    ],
)
def test_the_base_check_refuses_latest_and_tagless_images(image: str, pinned: bool) -> None:
    assert pinned_base(image, stages={"build"}) is pinned


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_pinned_bases_and_numeric_non_root_user(dockerfile: Path) -> None:
    text = dockerfile.read_text()
    stages: set[str] = set()
    for line in instructions(text, "FROM"):
        words = [word for word in line.split()[1:] if not word.startswith("--platform")]
        assert pinned_base(words[0], stages), f"{dockerfile.name}: unpinned base in {line!r}"
        if len(words) == 3 and words[1].upper() == "AS":
            stages.add(words[2])
    users = instructions(text, "USER")
    assert users, f"{dockerfile.name} runs as root"
    assert re.fullmatch(r"USER (\d+|\$\{UID\}):(\d+|\$\{UID\})", users[-1]), users[-1]
    if "${UID}" in users[-1]:
        assert re.search(r"ARG UID=\d+", text)
    assert users[-1] not in ("USER 0:0", "USER root")


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_no_secrets_baked_in(dockerfile: Path) -> None:
    text = dockerfile.read_text()
    for line in instructions(text, "ENV") + instructions(text, "ARG"):
        for name, value in re.findall(r"([A-Z_]+)=(\S+)", line):
            if re.search(r"PASSWORD|SECRET|PEPPER|DATABASE_URL|API_KEY|ACCESS_KEY|ADMIN_KEY", name):
                pytest.fail(f"{dockerfile.name}: {name}={value} bakes a secret into the image")


def test_gateway_image() -> None:
    text = read("gateway.Dockerfile")
    assert len(instructions(text, "FROM")) == 2, "multi-stage: build and runtime"
    assert "slim" in instructions(text, "FROM")[-1]
    assert "COPY --from=build /opt/venv /opt/venv" in text
    assert "SENTIMENT_STATE_DIR=/var/lib/sentiment" in text
    assert "SENTIMENT_AUDIT_SPOOL_DIR=/var/lib/sentiment/audit-spool" in text
    assert 'VOLUME ["/var/lib/sentiment"]' in text
    assert "EXPOSE 50051 9102" in text
    healthcheck = instructions(text, "HEALTHCHECK")[0]
    assert "grpc-health-check" in healthcheck
    probe = read("grpc_health_check.py")
    assert "grpc_health.v1" in probe and "HealthCheckResponse.SERVING" in probe
    assert instructions(text, "CMD")[-1] == 'CMD ["gateway"]'
    # No training stack in the runtime image.
    requirements = pins(read("gateway-requirements.txt").splitlines())
    assert "torch" not in requirements and "transformers" not in requirements


def pins(lines: list[str]) -> dict[str, str]:
    found = {}
    for line in lines:
        line = line.split("#")[0].strip()
        if "==" in line:
            name, version = line.split("==")
            found[re.sub(r"\[.*\]", "", name).strip().lower()] = version.strip()
    return found


def lock_tool() -> ModuleType:
    """scripts/lock_requirements.py as a module (scripts/ is not a package)."""
    spec = importlib.util.spec_from_file_location(
        "lock_requirements", ROOT / "scripts" / "lock_requirements.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_image_pins_match_the_project() -> None:
    """The .in files pin what pyproject.toml pins (scripts/lock_requirements.py --check: the
    locks pin what the .in files pin). Transitive versions are not compared with the .venv:
    pyproject.toml leaves them open, so a fresh `make setup` may take newer ones."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    declared = pins(project)
    for requirements in ("gateway-requirements.in", "triton-requirements.in"):
        for name, version in pins(read(requirements).splitlines()).items():
            expected = declared.get(name) or metadata.version(name)
            assert version == expected, f"{requirements}: {name}=={version}, project: {expected}"


def test_images_install_only_their_hash_locked_dependencies() -> None:
    tool = lock_tool()
    assert {lock.target.name for lock in tool.LOCKS if lock.target.parent == DOCKER} == {
        path.name for path in DOCKER.glob("*requirements*.txt")
    }
    for dockerfile, lock in (("gateway.Dockerfile", "gateway-requirements.txt"),
                             ("triton.Dockerfile", "triton-requirements.txt")):  # fmt: skip
        installs = [line for line in instructions(read(dockerfile), "RUN") if " -r " in line]
        assert len(installs) == 1, installs
        assert "--require-hashes --no-deps" in installs[0], installs[0]
        assert installs[0].split(" -r ")[1].split()[0].endswith(lock), installs[0]
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "lock_requirements.py"), "--check"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr


def test_the_lock_check_finds_an_unhashed_stray_or_stale_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tool = lock_tool()
    monkeypatch.setattr(tool, "DOCKER", tmp_path)
    lock = tool.image_lock("x-requirements", "3.11", "x86_64-manylinux_2_36", "python:3.11")
    (tmp_path / "x-requirements.in").write_text("tokenizers==0.22.2\nnumpy==1.26.4\n")
    (tmp_path / "x-requirements.txt").write_text(
        "tokenizers==0.22.1 \\\n    --hash=sha256:00\n    # via -r x-requirements.in\n"
        "huggingface-hub==0.36.2\n    # via tokenizers\n"
        "requests==2.34.2 \\\n    --hash=sha256:00\n    # via\n    #   -c constraints\n"
    )
    problems = "\n".join(tool.check(lock))
    assert "tokenizers==0.22.1, x-requirements.in: 0.22.2" in problems
    assert "numpy from x-requirements.in is not locked" in problems
    assert "huggingface-hub has no --hash" in problems
    assert "requests is not required by x-requirements.in" in problems


def patched_ngc_release(image: str) -> bool:
    """Whether an NGC Triton image tag is a release with the August 2025 fixes or newer."""
    match = NGC_TRITON_IMAGE.fullmatch(image)
    if match is None:
        raise ValueError(f"not an NGC Triton release tag: {image}")
    return (int(match.group(1)), int(match.group(2))) >= FIRST_PATCHED_NGC_RELEASE


@pytest.mark.parametrize(
    ("image", "patched"),
    [
        ("nvcr.io/nvidia/tritonserver:24.10-py3", False),  # the image of the earlier release
        ("nvcr.io/nvidia/tritonserver:25.06-py3", False),
        ("nvcr.io/nvidia/tritonserver:25.07-py3", True),
        ("nvcr.io/nvidia/tritonserver:25.08-py3", True),
        ("nvcr.io/nvidia/tritonserver:26.01-py3-min", True),
        ("tritonserver:24.12-py3", False),
    ],
)
def test_the_release_check_refuses_images_before_the_fixes(image: str, patched: bool) -> None:
    assert patched_ngc_release(image) is patched


def test_every_named_triton_image_has_the_august_2025_fixes() -> None:
    """The deployed image, and every place that names one (infra, docs, CI)."""
    base = instructions(read("triton.Dockerfile"), "FROM")[0].split()[1]
    assert re.fullmatch(r"nvcr\.io/nvidia/tritonserver:\d\d\.\d\d-py3", base), base
    assert patched_ngc_release(base), f"{base} predates NVIDIA's August 2025 Triton fixes"
    places = [ROOT / "README.md", ROOT / "Makefile", *(ROOT / "infra").rglob("*")]
    places += [*(ROOT / "docs").rglob("*.md"), *(ROOT / ".github").rglob("*.yml")]
    named = {
        (str(path.relative_to(ROOT)), match.group(0))
        for path in places
        if path.is_file()
        for match in NGC_TRITON_IMAGE.finditer(path.read_text(errors="replace"))
    }
    assert ("infra/docker/triton.Dockerfile", base) in named
    assert [(path, image) for path, image in named if not patched_ngc_release(image)] == []


def test_triton_image_serves_the_repository() -> None:
    text = read("triton.Dockerfile")
    project = pins(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"])
    assert project["nvidia-pytriton"] == "0.7.0"  # the tests' server: tritonserver 2.51.0
    assert pins(read("triton-requirements.txt").splitlines())["numpy"].startswith("1.")
    entrypoint = read("triton-entrypoint.sh")
    assert "TRITON_MODEL_REPOSITORY" in entrypoint and "--model-config-name=" in entrypoint
    # The repository API is closed to callers without the admin key (run for real in
    # tests/infra/test_triton_entrypoint.py), with the header the project's clients send.
    for flag in ("--http-restricted-api", "--grpc-restricted-protocol"):
        assert f'"{flag}=model-repository:{ADMIN_HEADER}=${{admin_key}}"' in entrypoint
    assert "/v2/health/ready" in instructions(text, "HEALTHCHECK")[0]
    assert "--shm-size" in text  # documented: Docker's 64 MB default is too small
