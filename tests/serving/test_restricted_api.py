"""Triton's doors on the real server: the model-repository API (index, load, unload) needs
the admin key on both protocols, everything a client of the model needs stays open, and
the three listeners are on loopback only."""

from __future__ import annotations

import ipaddress
import socket
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from tritonclient.utils import InferenceServerException

from export.publish import PublishedVersion
from serving.admin import grpc_headers, http_headers
from serving.tritonserver import TritonServer
from tests.serving.conftest import TritonClient

pytestmark = pytest.mark.triton

TEXT = np.array([[b"a gorgeous, witty, seductive movie"]], dtype=np.object_)
HTTP_REFUSAL = "This API is restricted, expecting header 'sentiment-admin-key'"
GRPC_REFUSAL = (
    "This protocol is restricted, expecting header 'triton-grpc-protocol-sentiment-admin-key'"
)


def refusal(call: Callable[[], object]) -> tuple[str | None, str]:
    """(status, message) of a call that must fail."""
    with pytest.raises(InferenceServerException) as caught:
        call()
    return caught.value.status(), caught.value.message()


def test_repository_calls_without_the_key_are_refused_over_http(
    clients: dict[str, TritonClient], triton: TritonServer
) -> None:
    client = clients["http"].client
    for call in (
        lambda: client.unload_model("sentiment"),
        lambda: client.load_model("sentiment"),
        lambda: client.get_model_repository_index(),
        lambda: client.unload_model("sentiment", headers=http_headers("wrong" * 8)),
        # The gRPC spelling of the header is not the HTTP one.
        lambda: client.unload_model("sentiment", headers=grpc_headers(triton.admin_key)),
    ):
        assert refusal(call) == ("403", HTTP_REFUSAL)
    # The plain request the issue names: an unload without the header, refused with 403.
    request = urllib.request.Request(
        f"http://{triton.http_url}/v2/repository/models/sentiment/unload", method="POST"
    )
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=10)
    assert caught.value.code == 403
    assert client.is_model_ready("sentiment")  # nothing was unloaded


def test_repository_calls_without_the_key_are_refused_over_grpc(
    clients: dict[str, TritonClient], triton: TritonServer
) -> None:
    client = clients["grpc"].client
    for call in (
        lambda: client.unload_model("sentiment"),
        lambda: client.load_model("sentiment"),
        lambda: client.get_model_repository_index(),
        lambda: client.unload_model("sentiment", headers=grpc_headers("wrong" * 8)),
        # Over gRPC Triton checks `triton-grpc-protocol-<header>`, not the bare header.
        lambda: client.unload_model("sentiment", headers=http_headers(triton.admin_key)),
    ):
        assert refusal(call) == ("StatusCode.UNAVAILABLE", GRPC_REFUSAL)
    assert client.is_model_ready("sentiment")


def test_health_metadata_config_statistics_and_inference_need_no_key(
    client: TritonClient,
) -> None:
    grpc = client.protocol == "grpc"
    assert client.client.is_server_live() and client.client.is_model_ready("sentiment")
    metadata = client.client.get_model_metadata("sentiment", **({"as_json": True} if grpc else {}))
    assert metadata["name"] == "sentiment"
    config = client.client.get_model_config("sentiment", **({"as_json": True} if grpc else {}))
    assert (config["config"] if grpc else config)["name"] == "sentiment"
    assert client.statistics("sentiment")["inference_count"] >= 0
    probabilities = client.infer("sentiment", {"TEXT": TEXT}, ["PROBABILITIES"])["PROBABILITIES"]
    assert probabilities.shape == (1, 2)


@pytest.fixture
def reloaded_afterwards(clients: dict[str, TritonClient], triton: TritonServer) -> Iterator[None]:
    """Whatever the test unloads, the session's server serves `sentiment` again after it."""
    yield
    clients["http"].client.load_model("sentiment", headers=http_headers(triton.admin_key))
    assert clients["http"].client.is_model_ready("sentiment")


def test_the_key_opens_index_unload_and_load(
    clients: dict[str, TritonClient],
    triton: TritonServer,
    published: PublishedVersion,
    reloaded_afterwards: None,
) -> None:
    http, grpc = clients["http"].client, clients["grpc"].client
    index = http.get_model_repository_index(headers=http_headers(triton.admin_key))
    assert {"name": "sentiment", "version": str(published.version), "state": "READY"} in index
    grpc_index = grpc.get_model_repository_index(
        headers=grpc_headers(triton.admin_key), as_json=True
    )
    assert "sentiment" in {model["name"] for model in grpc_index["models"]}

    http.unload_model("sentiment", headers=http_headers(triton.admin_key))
    assert not http.is_model_ready("sentiment")
    grpc.load_model("sentiment", headers=grpc_headers(triton.admin_key))
    assert grpc.is_model_ready("sentiment")
    grpc.unload_model("sentiment", headers=grpc_headers(triton.admin_key))
    assert not grpc.is_model_ready("sentiment")
    http.load_model("sentiment", headers=http_headers(triton.admin_key))
    after = clients["grpc"].infer("sentiment", {"TEXT": TEXT}, ["PROBABILITIES"])
    assert after["PROBABILITIES"].shape == (1, 2)


def listening_addresses(port: int) -> set[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """Local addresses of the LISTEN sockets on `port`, from /proc/net/tcp and tcp6."""
    found: set[ipaddress.IPv4Address | ipaddress.IPv6Address] = set()
    for table in ("tcp", "tcp6"):
        path = Path("/proc/net") / table
        if not path.is_file():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            address, hex_port = fields[1].split(":")
            if fields[3] != "0A" or int(hex_port, 16) != port:  # 0A: LISTEN
                continue
            # The kernel prints each 32-bit word of the address in host (little) order.
            words = (address[i : i + 8] for i in range(0, len(address), 8))
            raw = b"".join(bytes.fromhex(word)[::-1] for word in words)
            found.add(ipaddress.ip_address(raw))
    return found


def is_loopback(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    mapped = getattr(address, "ipv4_mapped", None)
    return address.is_loopback or (mapped is not None and mapped.is_loopback)


def outward_address() -> str | None:
    """This machine's address on its default route (no packet is sent), if it has one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:  # a TEST-NET-2 address, by the default route; a UDP connect sends nothing
            probe.connect(("198.51.100.1", 9))
        except OSError:
            return None
        address = probe.getsockname()[0]
    return None if ipaddress.ip_address(address).is_loopback else address


def test_http_grpc_and_metrics_listen_on_loopback_only(triton: TritonServer) -> None:
    for port in (triton.http_port, triton.grpc_port, triton.metrics_port):
        addresses = listening_addresses(port)
        assert addresses, f"nothing listens on {port}"
        assert all(is_loopback(a) for a in addresses), (port, addresses)
    outward = outward_address()
    if outward is None:
        pytest.skip("no non-loopback address on this machine to try")
    for port in (triton.http_port, triton.grpc_port, triton.metrics_port):
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((outward, port), timeout=5).close()
    # ...while on loopback every listener answers.
    for port in (triton.http_port, triton.grpc_port, triton.metrics_port):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
