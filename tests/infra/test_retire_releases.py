"""infra/scripts/retire-model-releases.sh against a fake `aws` on PATH.

No AWS is reachable here, so a small stand-in serves the few commands the script uses from
a folder (one file per object; tags in a JSON file) and records every call. What is
checked is the script's decisions: which releases it tags, that it never tags the served
one, and that it stops before tagging anything when the served release is not there.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "infra" / "scripts" / "retire-model-releases.sh"
BUCKET = "models-bucket"
TAG = {"Key": "sentiment-retention", "Value": "expired"}

FAKE_AWS = r"""
import json, os, re, sys
from pathlib import Path

root = Path(os.environ["FAKE_S3_ROOT"])
tags_file = root / "tags.json"
with (root / "calls.jsonl").open("a") as log:
    log.write(json.dumps(sys.argv[1:]) + "\n")
tags = json.loads(tags_file.read_text()) if tags_file.exists() else {}
args = sys.argv[1:]


def option(name):
    return args[args.index(name) + 1]


def split(uri):
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


if args[:2] == ["s3", "ls"]:
    bucket, key = split(args[2])
    base = root / "buckets" / bucket
    if key.endswith("/"):
        folders = sorted(p.name for p in (base / key).iterdir() if p.is_dir())
        print("\n".join(f"                           PRE {name}/" for name in folders))
    elif not (base / key).is_file():
        sys.exit(1)
    else:
        print(f"2025-01-01 00:00:00   10 {Path(key).name}")
elif args[:2] == ["s3", "cp"] and args[3] == "-":
    bucket, key = split(args[2])
    path = root / "buckets" / bucket / key
    if not path.is_file():
        sys.exit(1)
    sys.stdout.write(path.read_text())
elif args[:2] == ["s3api", "list-objects-v2"]:
    base = root / "buckets" / option("--bucket")
    keys = sorted(
        str(p.relative_to(base)) for p in base.rglob("*")
        if p.is_file() and str(p.relative_to(base)).startswith(option("--prefix"))
    )
    print("\t".join(keys) if keys else "None")
elif args[:2] == ["s3api", "get-object-tagging"]:
    found = tags.get(f"{option('--bucket')}/{option('--key')}", [])
    wanted = re.search(r"Key=='([^']+)'", option("--query")).group(1)
    print("\t".join(t["Value"] for t in found if t["Key"] == wanted))
elif args[:2] == ["s3api", "put-object-tagging"]:
    pairs = re.findall(r"Key=([^,]+),Value=([^}]+)", option("--tagging"))
    tags[f"{option('--bucket')}/{option('--key')}"] = [{"Key": k, "Value": v} for k, v in pairs]
    tags_file.write_text(json.dumps(tags))
elif args[:2] == ["s3api", "delete-object-tagging"]:
    tags.pop(f"{option('--bucket')}/{option('--key')}", None)
    tags_file.write_text(json.dumps(tags))
else:
    print("fake aws: unsupported " + " ".join(args), file=sys.stderr)
    sys.exit(255)
"""

OBJECTS = ("sentiment/config.pbtxt", "sentiment_onnx/1/model.onnx", "sentiment_onnx/config.pbtxt")


class FakeS3:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.bin = root / "bin"
        self.bin.mkdir()
        aws = self.bin / "aws"
        aws.write_text(f"#!{sys.executable}\n{FAKE_AWS}")
        aws.chmod(0o755)

    def publish(self, release: str, published_at: str | None) -> None:
        folder = self.root / "buckets" / BUCKET / "releases" / release
        for name in OBJECTS:
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_text(name)
        if published_at is not None:
            marker = {"release": release, "published_at": published_at, "inventory": {}}
            (folder / "RELEASE.json").write_text(json.dumps(marker) + "\n")

    def tag(self, key: str) -> None:
        tags = self.tags()
        tags[f"{BUCKET}/{key}"] = [TAG]
        (self.root / "tags.json").write_text(json.dumps(tags))

    def tags(self) -> dict[str, list[dict[str, str]]]:
        path = self.root / "tags.json"
        return json.loads(path.read_text()) if path.exists() else {}

    def tagged_releases(self) -> set[str]:
        return {key.split("/")[2] for key, tags in self.tags().items() if TAG in tags}

    def calls(self, command: str) -> list[list[str]]:
        path = self.root / "calls.jsonl"
        lines = path.read_text().splitlines() if path.exists() else []
        return [call for call in map(json.loads, lines) if command in call]


@pytest.fixture()
def s3(tmp_path: Path) -> FakeS3:
    return FakeS3(tmp_path)


@pytest.fixture()
def retire(s3: FakeS3) -> Callable[..., subprocess.CompletedProcess[str]]:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        env = {
            "PATH": f"{s3.bin}:/usr/bin:/bin",
            "FAKE_S3_ROOT": str(s3.root),
            "HOME": str(s3.root),
        }
        return subprocess.run(
            ["bash", str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=120
        )

    return run


def publish_days(s3: FakeS3, count: int) -> list[str]:
    """Releases r1..rN published on consecutive days (r1 oldest)."""
    releases = [f"r{day}" for day in range(1, count + 1)]
    for day, release in enumerate(releases, start=1):
        s3.publish(release, f"2025-01-{day:02d}T12:00:00Z")
    return releases


PREFIX = f"s3://{BUCKET}/releases"


def test_tags_every_object_of_old_releases_but_the_served_one(s3: FakeS3, retire) -> None:
    publish_days(s3, 6)
    result = retire("--keep", "2", PREFIX, "r1")  # a rollback to the oldest release
    assert result.returncode == 0, result.stderr
    assert s3.tagged_releases() == {"r2", "r3", "r4"}
    tagged = [call[call.index("--key") + 1] for call in s3.calls("put-object-tagging")]
    assert not [key for key in tagged if key.startswith("releases/r1/")]
    assert len(tagged) == 3 * (len(OBJECTS) + 1)
    # Each release's marker last: an interrupted run leaves it whole-looking for the next.
    assert [key.split("/")[-1] for key in tagged[3::4]] == ["RELEASE.json"] * 3
    assert "kept: r1 (served" in result.stdout and "3 release(s) retired" in result.stdout


def test_a_release_being_published_is_left_alone(s3: FakeS3, retire) -> None:
    publish_days(s3, 3)
    s3.publish("r0-partial", None)  # objects uploaded, RELEASE.json not yet
    result = retire("--keep", "1", PREFIX, "r3")
    assert result.returncode == 0, result.stderr
    assert s3.tagged_releases() == {"r1", "r2"}
    assert "left alone: r0-partial" in result.stdout


def test_refuses_when_the_served_release_is_missing(s3: FakeS3, retire) -> None:
    publish_days(s3, 4)
    result = retire("--keep", "1", PREFIX, "r9")  # a typo'd or unpublished id
    assert result.returncode == 1
    assert "served release" in result.stderr and "r9" in result.stderr
    assert s3.calls("put-object-tagging") == []


def test_never_tags_the_served_release_even_when_it_is_the_oldest(s3: FakeS3, retire) -> None:
    publish_days(s3, 3)
    result = retire("--keep", "0", PREFIX, "r1", "r2")  # r1 and r2 both serve (a rollout)
    assert result.returncode == 0, result.stderr
    assert s3.tagged_releases() == {"r3"}


def test_removes_the_tag_from_a_served_release_retired_earlier(s3: FakeS3, retire) -> None:
    publish_days(s3, 4)
    assert retire("--keep", "1", PREFIX, "r4").returncode == 0
    assert s3.tagged_releases() == {"r1", "r2", "r3"}
    result = retire("--keep", "1", PREFIX, "r2")  # rolled back to r2 within its grace period
    assert result.returncode == 0, result.stderr
    assert s3.tagged_releases() == {"r1", "r3"}
    assert "served release r2" in result.stdout


def test_dry_run_changes_nothing(s3: FakeS3, retire) -> None:
    publish_days(s3, 5)
    result = retire("--dry-run", "--keep", "2", PREFIX, "r5")
    assert result.returncode == 0, result.stderr
    assert s3.calls("put-object-tagging") == [] and s3.tags() == {}
    assert "would retire: r1" in result.stdout and "would retire: r3" in result.stdout
    assert "would retire: r4" not in result.stdout


@pytest.mark.parametrize(
    "args",
    [
        (),
        (PREFIX,),
        ("--keep", "x", PREFIX, "r1"),
        ("models-bucket/releases", "r1"),
        (PREFIX, "../r1"),
    ],
)
def test_bad_arguments_stop_with_one_line(s3: FakeS3, retire, args: tuple[str, ...]) -> None:
    publish_days(s3, 2)
    result = retire(*args)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert s3.calls("put-object-tagging") == []


def test_script_is_executable() -> None:
    assert os.access(SCRIPT, os.X_OK)
