"""Hash-pinned locks of the images' Python dependencies (infra/docker/*-requirements.txt).

Each image installs a lock with `pip install --require-hashes --no-deps -r LOCK`. A lock is
compiled from the small `.in` file next to it (the image's direct dependencies, pinned to
pyproject.toml) for the image's own Python and platform; every transitive version is the
one the project's tests ran with (the `.venv` the Makefile builds).

    python scripts/lock_requirements.py            # recompile (needs uv and PyPI)
    python scripts/lock_requirements.py --check    # offline: every lock is whole and current

`--check` needs no network: every lock line carries a hash, every `.in` pin is locked at its
version, and every locked package is reached from the `.in` through the lock's `# via` notes.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCKER = ROOT / "infra" / "docker"
VENV_PYTHON = ROOT / ".venv" / "bin" / "python"


@dataclass(frozen=True)
class Lock:
    """One image's lock: `<name>.in` compiled into `<name>.txt` for the image's interpreter."""

    name: str
    python: str
    platform: str
    image: str

    @property
    def source(self) -> Path:
        return DOCKER / f"{self.name}.in"

    @property
    def target(self) -> Path:
        return DOCKER / f"{self.name}.txt"


LOCKS = (
    Lock("gateway-requirements", "3.11", "x86_64-manylinux_2_36", "python:3.11.10-slim-bookworm"),
    # NGC 25.07 is Ubuntu 24.04: python3 3.12, glibc 2.39.
    Lock("triton-requirements", "3.12", "x86_64-manylinux_2_39", "tritonserver:25.07-py3"),
)


@dataclass
class Locked:
    version: str
    hashes: int = 0
    via: set[str] = field(default_factory=set)


class LockError(Exception):
    """A lock that does not match its `.in` file, or that could not be compiled."""


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", re.sub(r"\[.*\]", "", name)).strip().lower()


def direct_pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        requirement = line.split("#")[0].strip()
        if not requirement:
            continue
        if "==" not in requirement:
            raise LockError(f"{path.name}: {requirement!r} is not pinned with ==")
        name, version = requirement.split("==", 1)
        pins[normalize(name)] = version.strip()
    return pins


def parse_lock(path: Path) -> dict[str, Locked]:
    """The packages of a lock written by `uv pip compile --generate-hashes` (with `# via`)."""
    locked: dict[str, Locked] = {}
    current: Locked | None = None
    in_via = False
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not raw.startswith(" ") and line and not line.startswith("#"):
            requirement = line.rstrip("\\").split(";")[0].strip()
            if "==" not in requirement:
                raise LockError(f"{path.name}: {line!r} is not pinned with ==")
            name, version = requirement.split("==", 1)
            current = locked.setdefault(normalize(name), Locked(version.strip()))
            in_via = False
        elif current is None or not line:
            continue
        elif line.startswith("--hash=sha256:"):
            current.hashes += 1
        elif line.startswith("# via"):
            parent = line.removeprefix("# via").strip()
            in_via = not parent
            if parent:
                current.via.add(parent)
        elif in_via and line.startswith("#   "):
            current.via.add(line.removeprefix("#").strip())
    return locked


def check(lock: Lock) -> list[str]:
    """What is wrong with one lock, offline; empty when it is whole and matches its `.in`."""
    if not lock.target.is_file():
        return [f"{lock.target.name} is missing: run scripts/lock_requirements.py"]
    pins, locked = direct_pins(lock.source), parse_lock(lock.target)
    problems = [
        f"{lock.target.name}: {name} has no --hash" for name, p in locked.items() if not p.hashes
    ]
    for name, version in pins.items():
        if name not in locked:
            problems.append(f"{lock.target.name}: {name} from {lock.source.name} is not locked")
        elif locked[name].version != version:
            found = locked[name].version
            problems.append(f"{lock.target.name}: {name}=={found}, {lock.source.name}: {version}")
    reached = set(pins) & set(locked)
    while True:  # every locked package must be required, directly or not, by the .in
        more = {name for name, p in locked.items() if {normalize(v) for v in p.via} & reached}
        if more <= reached:
            break
        reached |= more
    for name in sorted(set(locked) - reached):
        problems.append(f"{lock.target.name}: {name} is not required by {lock.source.name}")
    return problems


def header(lock: Lock) -> str:
    return (
        f"# Lock of {lock.source.name} for the image {lock.image}:\n"
        f"# Python {lock.python}, {lock.platform}.\n"
        "# Generated by scripts/lock_requirements.py (uv pip compile --generate-hashes); do not\n"
        "# edit. Installed with pip install --require-hashes --no-deps -r; transitive versions\n"
        "# are the ones the project's tests ran with (.venv).\n"
    )


def compile_lock(lock: Lock, uv: str, constraints: Path) -> None:
    command = [
        uv, "pip", "compile", "--quiet", "--no-config", "--generate-hashes", "--no-header",
        "--index-url", "https://pypi.org/simple",
        "--python-version", lock.python, "--python-platform", lock.platform,
        "--constraint", str(constraints), lock.source.name,
    ]  # fmt: skip
    result = subprocess.run(command, cwd=DOCKER, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise LockError(f"uv pip compile {lock.source.name} failed:\n{result.stderr.strip()}")
    # The constraints file is a scratch file: name what it holds instead of its path.
    body = result.stdout.replace(f"-c {constraints}", "-c the tested versions (.venv)")
    lock.target.write_text(header(lock) + body)


def tested_versions(directory: Path) -> Path:
    """The `.venv`'s installed versions as a constraints file: the locks take no other."""
    if not VENV_PYTHON.is_file():
        raise LockError("no .venv: run `make setup` first (the locks follow its versions)")
    freeze = subprocess.run(
        [str(VENV_PYTHON), "-m", "pip", "freeze", "--exclude-editable"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    path = directory / "constraints.txt"
    path.write_text(freeze.stdout)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="verify the locks, offline")
    parser.add_argument("--uv", default=shutil.which("uv"), help="the uv binary to compile with")
    args = parser.parse_args(argv)
    try:
        if args.check:
            problems = [problem for lock in LOCKS for problem in check(lock)]
            for problem in problems:
                print(problem, file=sys.stderr)
            return 1 if problems else 0
        if args.uv is None:
            raise LockError("uv not found: pip install uv into a scratch venv, pass --uv PATH")
        with tempfile.TemporaryDirectory() as scratch:
            constraints = tested_versions(Path(scratch))
            for lock in LOCKS:
                compile_lock(lock, args.uv, constraints)
                print(f"wrote {lock.target.relative_to(ROOT)}")
        problems = [problem for lock in LOCKS for problem in check(lock)]
        if problems:
            raise LockError("\n".join(problems))
    except LockError as error:
        print(error, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
