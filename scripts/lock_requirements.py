"""Hash-pinned locks of the Python dependencies: `make setup`'s and the images'.

Whatever installs a lock runs `pip install --require-hashes --no-deps -r LOCK`: pip takes
exactly the listed files and nothing they would pull in. Every transitive version is the
one the project's tests ran with (the `.venv` the Makefile builds).

- `locks/dev.txt`: pyproject.toml's dependencies and its `dev` extra, for `make setup`
  (Python 3.11, Linux x86_64), without torch: torch's CPU build is not on PyPI (PyPI's
  Linux torch is the CUDA build), so `locks/torch-cpu.txt` locks it against PyTorch's CPU
  index and is installed first, on its own, so no PyPI package is looked up there.
- `infra/docker/*-requirements.txt`: one per image, compiled from the small `.in` file
  next to it (the image's direct dependencies, pinned to pyproject.toml) for the image's
  own Python and platform.

    python scripts/lock_requirements.py            # recompile (needs uv, PyPI, PyTorch's index)
    python scripts/lock_requirements.py --check    # offline: every lock is whole and current

`--check` needs no network: every lock line carries a hash, every pin of the source is
locked at its version, and every locked package is reached from the source's pins through
the lock's `# via` notes.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from dataclasses import dataclass, field
from hashlib import sha256
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCKER = ROOT / "infra" / "docker"
LOCKS_DIR = ROOT / "locks"
PYPROJECT = ROOT / "pyproject.toml"
VENV_PYTHON = ROOT / ".venv" / "bin" / "python"
PYPI = "https://pypi.org/simple"
# Where the CPU builds of torch are published (the `+cpu` local versions).
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"


@dataclass(frozen=True)
class Lock:
    """One lock: `source` compiled into `target` for one interpreter and platform.

    The source is a `.in` file of exact pins, or pyproject.toml (its dependencies and
    `extras`). `only` locks just those packages of the source, without their dependencies,
    from `index`; `leave_out` names packages that another lock holds.
    """

    source: Path
    target: Path
    python: str
    platform: str
    installer: str
    extras: tuple[str, ...] = ()
    only: tuple[str, ...] = ()
    leave_out: tuple[str, ...] = ()
    index: str = PYPI


def image_lock(name: str, python: str, platform: str, image: str) -> Lock:
    return Lock(
        DOCKER / f"{name}.in", DOCKER / f"{name}.txt", python, platform, f"the image {image}"
    )


SETUP = "make setup"
LOCKS = (
    Lock(PYPROJECT, LOCKS_DIR / "torch-cpu.txt", "3.11", "x86_64-manylinux_2_36", SETUP,
         only=("torch",), index=TORCH_CPU_INDEX),
    Lock(PYPROJECT, LOCKS_DIR / "dev.txt", "3.11", "x86_64-manylinux_2_36", SETUP,
         extras=("dev",), leave_out=("torch",)),
    image_lock(
        "gateway-requirements", "3.11", "x86_64-manylinux_2_36", "python:3.11.10-slim-bookworm"
    ),
    # NGC 25.07 is Ubuntu 24.04: python3 3.12, glibc 2.39.
    image_lock("triton-requirements", "3.12", "x86_64-manylinux_2_39", "tritonserver:25.07-py3"),
)  # fmt: skip


@dataclass
class Locked:
    version: str
    hashes: int = 0
    via: set[str] = field(default_factory=set)


class LockError(Exception):
    """A lock that does not match its `.in` file, or that could not be compiled."""


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", re.sub(r"\[.*\]", "", name)).strip().lower()


def pin(requirement: str, where: str) -> tuple[str, str]:
    if "==" not in requirement:
        raise LockError(f"{where}: {requirement!r} is not pinned with ==")
    name, version = requirement.split("==", 1)
    return normalize(name), version.strip()


def source_pins(lock: Lock) -> dict[str, str]:
    """Every exact pin of the lock's source (pyproject.toml: dependencies and `extras`)."""
    if lock.source.suffix == ".toml":
        project = tomllib.loads(lock.source.read_text())["project"]
        lines = list(project["dependencies"])
        for extra in lock.extras:
            lines += project["optional-dependencies"][extra]
    else:
        lines = lock.source.read_text().splitlines()
    requirements = (line.split("#")[0].strip() for line in lines)
    return dict(pin(r, lock.source.name) for r in requirements if r)


def parse_lock(path: Path) -> dict[str, Locked]:
    """The packages of a lock written by `uv pip compile --generate-hashes` (with `# via`)."""
    locked: dict[str, Locked] = {}
    current: Locked | None = None
    in_via = False
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not raw.startswith(" ") and line and not line.startswith("#"):
            if line.startswith("--"):  # an index option: --index-url, --find-links
                continue
            name, version = pin(line.rstrip("\\").split(";")[0].strip(), path.name)
            current = locked.setdefault(name, Locked(version))
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


def same_version(locked: str, pinned: str) -> bool:
    """PEP 440: `==2.13.0` admits the local build `2.13.0+cpu`."""
    return locked == pinned or ("+" not in pinned and locked.split("+")[0] == pinned)


def check(lock: Lock) -> list[str]:
    """What is wrong with one lock, offline; empty when it is whole and matches its source."""
    name = lock.target.relative_to(ROOT) if lock.target.is_relative_to(ROOT) else lock.target
    if not lock.target.is_file():
        return [f"{name} is missing: run scripts/lock_requirements.py"]
    pins, locked = source_pins(lock), parse_lock(lock.target)
    if lock.only:
        pins = {package: pins[package] for package in lock.only}
    problems = [f"{name}: {package} has no --hash" for package, p in locked.items() if not p.hashes]
    for package, version in pins.items():
        if package in lock.leave_out:
            if package in locked:
                problems.append(f"{name}: {package} is locked elsewhere, not here")
        elif package not in locked:
            problems.append(f"{name}: {package} from {lock.source.name} is not locked")
        elif not same_version(locked[package].version, version):
            found = locked[package].version
            problems.append(f"{name}: {package}=={found}, {lock.source.name}: {version}")
    reached = set(pins)
    while True:  # every locked package must be required, directly or not, by the source
        more = {package for package, p in locked.items() if {normalize(v) for v in p.via} & reached}
        if more <= reached:
            break
        reached |= more
    for package in sorted(set(locked) - reached):
        problems.append(f"{name}: {package} is not required by {lock.source.name}")
    return problems


def header(lock: Lock) -> str:
    what = f"{lock.source.name}"
    if lock.only:
        what = f"{', '.join(lock.only)} of {what} (nothing it depends on)"
    elif lock.extras:
        what = f"{what} (dependencies, extras: {', '.join(lock.extras)})"
    text = (
        f"# Lock of {what} for {lock.installer}:\n"
        f"# Python {lock.python}, {lock.platform}.\n"
        "# Generated by scripts/lock_requirements.py (uv pip compile --generate-hashes); do not\n"
        "# edit. Installed with pip install --require-hashes --no-deps -r; transitive versions\n"
        "# are the ones the project's tests ran with (.venv).\n"
    )
    if lock.leave_out:
        text += f"# Not here (another lock holds them): {', '.join(lock.leave_out)}.\n"
    if lock.index != PYPI:
        text += f"--index-url {lock.index}\n"
    return text


@dataclass(frozen=True)
class TorchSource:
    """Where uv finds the torch CPU build: `links` while resolving the other packages (only
    torch's files, so nothing else is taken from there), `index` for torch's own lock."""

    links: str
    index: str


def torch_source(where: str, scratch: Path) -> TorchSource:
    """PyTorch's CPU index (a URL), or a folder of its wheels where that is not reachable.

    For a folder, a scratch simple index with each wheel's sha256 stands in for the URL:
    uv writes no hashes for the wheels of a plain folder.
    """
    if "://" in where:
        return TorchSource(f"{where.rstrip('/')}/torch/", where)
    page = scratch / "torch-index" / "torch" / "index.html"
    page.parent.mkdir(parents=True)
    links = [
        f'<a href="{wheel.resolve().as_uri()}#sha256={sha256(wheel.read_bytes()).hexdigest()}">'
        f"{wheel.name}</a>"
        for wheel in sorted(Path(where).glob("torch-*.whl"))
    ]
    page.write_text("<html><body>\n" + "\n".join(links) + "\n</body></html>\n")
    return TorchSource(where, page.parent.parent.as_uri())


def compile_lock(lock: Lock, uv: str, constraints: Path, torch: TorchSource) -> None:
    source = lock.source
    where = ["--index-url", PYPI, "--find-links", torch.links]  # torch's CPU build: not on PyPI
    if lock.only:  # just these pins, from the lock's own index
        pins = source_pins(lock)
        source = constraints.with_name("only.in")
        source.write_text("".join(f"{name}=={pins[name]}\n" for name in lock.only))
        where = ["--no-deps", "--index-url", torch.index]
    command = [
        uv, "pip", "compile", "--quiet", "--no-config", "--generate-hashes", "--no-header",
        *where, "--python-version", lock.python, "--python-platform", lock.platform,
        *(arg for extra in lock.extras for arg in ("--extra", extra)),
        *(arg for package in lock.leave_out for arg in ("--no-emit-package", package)),
        "--constraint", str(constraints), source.name,
    ]  # fmt: skip
    result = subprocess.run(command, cwd=source.parent, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise LockError(f"uv pip compile {lock.source.name} failed:\n{result.stderr.strip()}")
    # The scratch files: name what they hold instead of their paths.
    body = result.stdout.replace(f"-c {constraints}", "-c the tested versions (.venv)")
    body = body.replace(f"-c {constraints.name}", "-c the tested versions (.venv)")
    body = body.replace(f"-r {source.name}", f"-r {lock.source.name}")
    lock.target.parent.mkdir(exist_ok=True)
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
    parser.add_argument(
        "--torch-wheels",
        default=TORCH_CPU_INDEX,
        help="PyTorch's CPU index (default), or a folder of its torch wheels",
    )
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
            torch = torch_source(args.torch_wheels, Path(scratch))
            for lock in LOCKS:
                compile_lock(lock, args.uv, constraints, torch)
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
