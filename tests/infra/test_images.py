"""Container image tags live in one file, infra/images.toml; every reference agrees with it.

References are read where the project names images it pulls: the Dockerfiles' FROM lines,
docker-compose's `image:` of services it does not build, the Terraform's literal image
strings (`image = "..."` and the defaults of `*_image` variables) and the CI workflow's
service containers. The digests are filled by the release step (docs/deployment.md).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PIN_FILE = ROOT / "infra" / "images.toml"
DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
TF_IMAGE = re.compile(r'\bimage\s*=\s*"([^"$]+)"')
TF_IMAGE_DEFAULT = re.compile(r'variable\s+"\w+_image"\s*\{[^}]*?\bdefault\s*=\s*"([^"$]+)"', re.S)


@dataclass(frozen=True)
class Reference:
    """`name:tag[@digest]` as written in `where`."""

    name: str
    tag: str
    digest: str
    where: str


def parse(image: str, where: str) -> Reference:
    rest, _, digest = image.partition("@")
    name, tag = rest, ""
    if ":" in rest.rsplit("/", 1)[-1]:  # a registry's host:port is not a tag
        name, tag = rest.rsplit(":", 1)
    return Reference(name, tag, digest, where)


def dockerfile_references() -> list[Reference]:
    found = []
    for dockerfile in sorted((ROOT / "infra" / "docker").glob("*.Dockerfile")):
        stages: set[str] = set()
        for line in dockerfile.read_text().splitlines():
            words = [w for w in line.split() if not w.startswith("--platform")]
            if not words or words[0].upper() != "FROM":
                continue
            if words[1] not in stages:
                found.append(parse(words[1], dockerfile.name))
            if len(words) == 4 and words[2].upper() == "AS":
                stages.add(words[3])
    return found


def compose_references() -> list[Reference]:
    compose = yaml.safe_load((ROOT / "infra" / "docker-compose.yml").read_text())
    return [
        parse(service["image"], f"docker-compose.yml: {name}")
        for name, service in compose["services"].items()
        if "image" in service and "build" not in service  # built here from infra/docker/
    ]


def terraform_references() -> list[Reference]:
    found = []
    for path in sorted((ROOT / "infra" / "terraform").rglob("*.tf")):
        text = path.read_text()
        for image in TF_IMAGE.findall(text) + TF_IMAGE_DEFAULT.findall(text):
            found.append(parse(image, str(path.relative_to(ROOT))))
    return found


def workflow_references() -> list[Reference]:
    found = []
    for path in sorted((ROOT / ".github" / "workflows").glob("*.yml")):
        workflow = yaml.safe_load(path.read_text())
        for job_name, job in workflow.get("jobs", {}).items():
            containers = [*job.get("services", {}).values(), job.get("container")]
            for container in containers:
                image = container.get("image") if isinstance(container, dict) else container
                if isinstance(image, str) and "${{" not in image:
                    found.append(parse(image, f"{path.name}: {job_name}"))
    return found


def all_references() -> list[Reference]:
    return (
        dockerfile_references()
        + compose_references()
        + terraform_references()
        + workflow_references()
    )


@pytest.fixture(scope="module")
def pins() -> list[dict[str, Any]]:
    return list(tomllib.loads(PIN_FILE.read_text())["image"])


def test_the_pin_file_is_well_formed(pins: list[dict[str, Any]]) -> None:
    seen = set()
    for pin in pins:
        assert set(pin) == {"name", "tag", "digest", "used_by"}, pin
        assert pin["tag"] and pin["tag"] != "latest", pin
        assert pin["digest"] == "" or DIGEST.fullmatch(pin["digest"]), pin
        assert (pin["name"], pin["tag"]) not in seen, f"{pin['name']}:{pin['tag']} twice"
        seen.add((pin["name"], pin["tag"]))


def test_references_are_found_in_every_kind_of_file() -> None:
    """The readers above still see the files: a moved file must not silence the test."""
    for reader in (dockerfile_references, compose_references, terraform_references,
                   workflow_references):  # fmt: skip
        assert reader(), f"{reader.__name__} found no image reference"


@pytest.mark.parametrize("reference", all_references(), ids=lambda r: f"{r.where}={r.name}")
def test_every_reference_matches_the_pin_file(
    reference: Reference, pins: list[dict[str, Any]]
) -> None:
    tags = {pin["tag"]: pin for pin in pins if pin["name"] == reference.name}
    assert tags, f"{reference.where}: {reference.name} is not in infra/images.toml"
    assert reference.tag in tags, (
        f"{reference.where}: {reference.name}:{reference.tag}, infra/images.toml has "
        f"{sorted(tags)}: change the tag there, and here to match"
    )
    recorded = tags[reference.tag]["digest"]
    if recorded:
        assert reference.digest == recorded, (
            f"{reference.where}: {reference.name}:{reference.tag} must carry @{recorded}"
        )
    else:
        assert not reference.digest, (
            f"{reference.where}: @{reference.digest} is not recorded in infra/images.toml"
        )


def test_every_pin_is_used(pins: list[dict[str, Any]]) -> None:
    used = {(r.name, r.tag) for r in all_references()}
    stale = [f"{p['name']}:{p['tag']}" for p in pins if (p["name"], p["tag"]) not in used]
    assert not stale, f"infra/images.toml lists images nothing uses: {stale}"


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        ("python:3.11.10-slim-bookworm", ("python", "3.11.10-slim-bookworm", "")),
        ("localhost:5000/app:1.0", ("localhost:5000/app", "1.0", "")),
        ("localhost:5000/app", ("localhost:5000/app", "", "")),
        ("nvcr.io/nvidia/tritonserver:25.07-py3@sha256:" + "a" * 64,
         ("nvcr.io/nvidia/tritonserver", "25.07-py3", "sha256:" + "a" * 64)),
    ],
)  # fmt: skip
def test_parse(image: str, expected: tuple[str, str, str]) -> None:
    reference = parse(image, "here")
    assert (reference.name, reference.tag, reference.digest) == expected
