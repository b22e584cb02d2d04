"""One Triton address: host and ports, read by the pipeline commands and the gateway alike,
and the two addresses of the earlier release as deprecated variables."""

from __future__ import annotations

import pytest

from config import ConfigurationError, DeprecatedVariableWarning
from config.settings import PipelineSettings
from config.triton import TritonSettings
from gateway.settings import GatewaySettings


def test_defaults_are_the_local_triton() -> None:
    triton = TritonSettings()
    assert (triton.http_address, triton.grpc_address) == ("127.0.0.1:8000", "127.0.0.1:8001")
    assert triton.metrics_port == 8002


def test_pipeline_and_gateway_read_the_same_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENTIMENT_TRITON_HOST", "triton.internal")
    monkeypatch.setenv("SENTIMENT_TRITON_HTTP_PORT", "9000")
    monkeypatch.setenv("SENTIMENT_TRITON_GRPC_PORT", "9001")
    assert PipelineSettings().triton.http_address == "triton.internal:9000"
    assert GatewaySettings().triton.grpc_address == "triton.internal:9001"


def test_an_ipv6_host_is_bracketed() -> None:
    assert TritonSettings(host="::1").grpc_address == "[::1]:8001"


def test_the_launched_server_is_on_the_local_host(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENTIMENT_TRITON_HOST", "remote")
    monkeypatch.setenv("SENTIMENT_TRITON_GRPC_PORT", "9001")
    assert TritonSettings().on_local_host().grpc_address == "127.0.0.1:9001"


def test_old_http_url_sets_host_and_http_port(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENTIMENT_TRITON_URL", "triton:9000")
    with pytest.warns(DeprecatedVariableWarning) as warned:
        triton = PipelineSettings().triton
    assert (triton.host, triton.http_port, triton.grpc_port) == ("triton", 9000, 8001)
    assert {str(w.message) for w in warned} == {
        "SENTIMENT_TRITON_URL is deprecated and goes in the next release; "
        "use SENTIMENT_TRITON_HOST and SENTIMENT_TRITON_HTTP_PORT"
    }


@pytest.mark.parametrize("target", ["triton:9001", "dns:///triton:9001", "dns:triton:9001"])
def test_old_grpc_url_sets_host_and_grpc_port(monkeypatch: pytest.MonkeyPatch, target: str) -> None:
    monkeypatch.setenv("SENTIMENT_TRITON_GRPC_URL", target)
    with pytest.warns(DeprecatedVariableWarning, match="use SENTIMENT_TRITON_HOST and SENT"):
        triton = GatewaySettings().triton
    assert triton.grpc_address == "triton:9001"


def test_new_variables_win_over_the_old_address(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENTIMENT_TRITON_GRPC_URL", "old:7001")
    monkeypatch.setenv("SENTIMENT_TRITON_HOST", "new")
    with pytest.warns(DeprecatedVariableWarning):
        assert TritonSettings().grpc_address == "new:7001"


def test_old_addresses_that_disagree_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENTIMENT_TRITON_URL", "one:8000")
    monkeypatch.setenv("SENTIMENT_TRITON_GRPC_URL", "two:8001")
    with pytest.warns(DeprecatedVariableWarning), pytest.raises(ConfigurationError) as caught:
        TritonSettings()
    assert str(caught.value) == (
        "SENTIMENT_TRITON_URL and SENTIMENT_TRITON_GRPC_URL disagree on "
        "SENTIMENT_TRITON_HOST: set that"
    )
    monkeypatch.setenv("SENTIMENT_TRITON_HOST", "three")
    with pytest.warns(DeprecatedVariableWarning):
        assert TritonSettings().http_address == "three:8000"


@pytest.mark.parametrize(
    ("value", "problem"),
    [("triton", "expected host:port, got 'triton'"), ("triton:99999", "less than or equal")],
)
def test_a_bad_old_address_names_the_old_variable(
    monkeypatch: pytest.MonkeyPatch, value: str, problem: str
) -> None:
    monkeypatch.setenv("SENTIMENT_TRITON_URL", value)
    with pytest.warns(DeprecatedVariableWarning), pytest.raises(ConfigurationError) as caught:
        PipelineSettings()
    assert str(caught.value).startswith("invalid setting SENTIMENT_TRITON_URL: ")
    assert problem in str(caught.value)


def test_a_bad_port_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENTIMENT_TRITON_METRICS_PORT", "eighty")
    with pytest.raises(ConfigurationError, match=r"^invalid setting SENTIMENT_TRITON_METRICS_PORT"):
        PipelineSettings()
