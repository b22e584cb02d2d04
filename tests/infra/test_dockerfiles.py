"""Images: hadolint-clean Dockerfiles with the properties the deployment relies on."""

from __future__ import annotations

import re
import subprocess
import tomllib
from importlib import metadata
from pathlib import Path

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


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_pinned_bases_and_numeric_non_root_user(dockerfile: Path) -> None:
    text = dockerfile.read_text()
    for line in instructions(text, "FROM"):
        image = line.split()[1]
        assert ":" in image and not image.endswith(":latest"), line
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


def test_image_pins_match_the_project() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    declared = pins(project)
    for requirements in ("gateway-requirements.txt", "triton-requirements.txt"):
        for name, version in pins(read(requirements).splitlines()).items():
            expected = declared.get(name) or metadata.version(name)
            assert version == expected, f"{requirements}: {name}=={version}, project: {expected}"


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
