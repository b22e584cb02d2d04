"""The admin key of Triton's model-repository API: a setting wins, else one local key made
once in the state dir (mode 0600) that later commands read."""

from __future__ import annotations

import stat
import threading
from pathlib import Path

import pytest

from config import ConfigurationError
from config.settings import PipelineSettings
from serving.admin import ADMIN_KEY_FILE, admin_key, grpc_headers, http_headers


@pytest.fixture(autouse=True)
def no_key_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SENTIMENT_TRITON_ADMIN_KEY", raising=False)


def test_a_local_key_is_made_once_private_and_reused(tmp_path: Path) -> None:
    settings = PipelineSettings(state_dir=tmp_path / "state")
    assert admin_key(settings) is None  # reading never makes one
    made = admin_key(settings, create=True)
    assert made is not None and len(made) == 64
    path = tmp_path / "state" / ADMIN_KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert admin_key(settings) == admin_key(settings, create=True) == made
    assert [p.name for p in path.parent.iterdir()] == [ADMIN_KEY_FILE]  # no temporary left


def test_starts_at_once_agree_on_one_key(tmp_path: Path) -> None:
    settings = PipelineSettings(state_dir=tmp_path)
    keys: list[str | None] = []
    threads = [
        threading.Thread(target=lambda: keys.append(admin_key(settings, create=True)))
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(keys)) == 1 and keys[0] == (tmp_path / ADMIN_KEY_FILE).read_text().strip()


def test_the_setting_wins_over_the_local_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin_key(PipelineSettings(state_dir=tmp_path), create=True)
    monkeypatch.setenv("SENTIMENT_TRITON_ADMIN_KEY", "a" * 48)
    assert admin_key(PipelineSettings(state_dir=tmp_path), create=True) == "a" * 48


def test_an_empty_variable_is_no_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENTIMENT_TRITON_ADMIN_KEY", "")  # compose's `${VAR:-}`
    assert admin_key(PipelineSettings(state_dir=tmp_path)) is None


@pytest.mark.parametrize("value", ["short", "x" * 31, "has:colon" + "x" * 32, "x=y" + "z" * 32])
def test_a_key_that_cannot_travel_in_the_flag_is_refused(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("SENTIMENT_TRITON_ADMIN_KEY", value)
    with pytest.raises(ConfigurationError) as caught:
        PipelineSettings()
    assert str(caught.value) == (
        "invalid setting SENTIMENT_TRITON_ADMIN_KEY: use at least 32 letters, digits, '-' or '_'"
    )
    assert value not in str(caught.value)


def test_headers_per_protocol() -> None:
    assert http_headers("k") == {"sentiment-admin-key": "k"}
    assert grpc_headers("k") == {"triton-grpc-protocol-sentiment-admin-key": "k"}
    assert http_headers(None) is None and grpc_headers(None) is None


def test_a_bind_address_must_be_an_address(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENTIMENT_TRITON_BIND_ADDRESS", "everywhere")
    with pytest.raises(ConfigurationError, match="BIND_ADDRESS: 'everywhere' is not an IP"):
        PipelineSettings()
    monkeypatch.setenv("SENTIMENT_TRITON_BIND_ADDRESS", "10.0.0.5")
    triton = PipelineSettings().triton
    assert triton.on_local_host().http_address == "10.0.0.5:8000"
