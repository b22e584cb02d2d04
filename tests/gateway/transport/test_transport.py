"""Transport options of a real gateway: TLS, mTLS and server reflection on and off.

Certificates are made here with `cryptography`: a throwaway CA signs a server certificate
for 127.0.0.1 and a client certificate; a second CA plays the stranger.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from gateway.server import SERVICE_NAME

LOCALHOST = ipaddress.IPv4Address("127.0.0.1")


@dataclass(frozen=True)
class Pem:
    cert: bytes
    key: bytes


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _issue(
    subject: str, issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None, *, server: bool
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    issuer_name, issuer_key = issuer or (_name(subject), key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True)
    )
    if issuer is not None:
        usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        if server:
            names = [x509.IPAddress(LOCALHOST), x509.DNSName("localhost")]
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(issuer_key, hashes.SHA256()), key


def _pem(cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> Pem:
    return Pem(
        cert.public_bytes(serialization.Encoding.PEM),
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )


@dataclass(frozen=True)
class Pki:
    ca: Pem
    server: Pem
    client: Pem
    stranger: Pem
    """A client certificate from a CA the gateway does not trust."""
    files: dict[str, Path]


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    ca_cert, ca_key = _issue("test CA", None, server=False)
    ca = (ca_cert.subject, ca_key)
    other_cert, other_key = _issue("other CA", None, server=False)
    pki = Pki(
        ca=_pem(ca_cert, ca_key),
        server=_pem(*_issue("gateway", ca, server=True)),
        client=_pem(*_issue("client", ca, server=False)),
        stranger=_pem(*_issue("stranger", (other_cert.subject, other_key), server=False)),
        files={},
    )
    folder = tmp_path_factory.mktemp("pki")
    for name, data in (
        ("ca.pem", pki.ca.cert),
        ("server.pem", pki.server.cert),
        ("server.key", pki.server.key),
    ):
        (folder / name).write_bytes(data)
        pki.files[name] = folder / name
    return pki


def health_status(channel: grpc.Channel) -> int:
    request = health_pb2.HealthCheckRequest(service="")
    return int(health_pb2_grpc.HealthStub(channel).Check(request, timeout=5).status)


def secure(gateway: Any, pki: Pki, client: Pem | None = None) -> grpc.Channel:
    credentials = grpc.ssl_channel_credentials(
        root_certificates=pki.ca.cert,
        private_key=client.key if client else None,
        certificate_chain=client.cert if client else None,
    )
    return grpc.secure_channel(gateway.target, credentials)


def refused(channel: grpc.Channel) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as caught, channel:
        health_status(channel)
    return caught.value.code()  # type: ignore[no-any-return]


def test_tls_serves_only_tls_clients(start_gateway: Any, pki: Pki) -> None:
    gateway = start_gateway(
        tls_cert_file=pki.files["server.pem"], tls_key_file=pki.files["server.key"]
    )
    with secure(gateway, pki) as channel:
        assert health_status(channel) == health_pb2.HealthCheckResponse.NOT_SERVING  # no Triton
    assert refused(grpc.insecure_channel(gateway.target)) == grpc.StatusCode.UNAVAILABLE


def test_mtls_requires_a_client_certificate_from_the_ca(start_gateway: Any, pki: Pki) -> None:
    gateway = start_gateway(
        tls_cert_file=pki.files["server.pem"],
        tls_key_file=pki.files["server.key"],
        tls_client_ca_file=pki.files["ca.pem"],
    )
    with secure(gateway, pki, pki.client) as channel:
        assert health_status(channel) == health_pb2.HealthCheckResponse.NOT_SERVING
    assert refused(secure(gateway, pki)) == grpc.StatusCode.UNAVAILABLE
    assert refused(secure(gateway, pki, pki.stranger)) == grpc.StatusCode.UNAVAILABLE


def list_services(channel: grpc.Channel) -> list[str]:
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    (response,) = list(stub.ServerReflectionInfo(iter([request]), timeout=5))
    return [s.name for s in response.list_services_response.service]


def test_reflection_lists_the_services_when_enabled(start_gateway: Any) -> None:
    gateway = start_gateway(reflection=True)
    services = list_services(gateway.channel)
    assert SERVICE_NAME in services and "grpc.health.v1.Health" in services
    # A client can fetch the schema of the service it found.
    stub = reflection_pb2_grpc.ServerReflectionStub(gateway.channel)
    request = reflection_pb2.ServerReflectionRequest(file_containing_symbol=SERVICE_NAME)
    (response,) = list(stub.ServerReflectionInfo(iter([request]), timeout=5))
    assert response.file_descriptor_response.file_descriptor_proto


def test_reflection_is_off_by_default(gateway: Any) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        list_services(gateway.channel)
    assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED
