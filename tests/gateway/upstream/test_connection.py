"""The channel to Triton follows Triton's DNS name: tasks that come behind the name get a
share of the calls within a channel age, tasks that go stop getting any. A real DNS
server the test answers for, real gRPC servers on two loopback addresses, grpc's own
resolver and round_robin."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from tritonclient.grpc import service_pb2

from gateway.upstream.connection import TritonConnection, channel_options, channel_target
from gateway.upstream.triton_client import TritonClient
from tests.gateway.upstream.conftest import (
    FreezableProxy,
    ReadyTriton,
    StaticDns,
    grpc_port_free_on,
    start_ready_triton,
)

FIRST, SECOND = "127.0.0.1", "127.0.0.2"


async def share_of_calls(
    client: TritonClient, tritons: dict[str, ReadyTriton], calls: int = 40
) -> dict[str, int]:
    """How many of `calls` readiness checks each Triton answered (all must succeed)."""
    before = {host: triton.calls for host, triton in tritons.items()}
    for _ in range(calls):
        assert await client.ready("sentiment")
    return {host: triton.calls - before[host] for host, triton in tritons.items()}


def test_tasks_that_come_and_go_behind_the_name_get_their_share(dns: StaticDns) -> None:
    port = grpc_port_free_on(FIRST, SECOND)
    target = dns.target("triton.test", port)

    async def scenario() -> None:
        first, first_triton = await start_ready_triton(f"{FIRST}:{port}")
        second, second_triton = await start_ready_triton(f"{SECOND}:{port}")
        tritons = {FIRST: first_triton, SECOND: second_triton}
        dns.addresses = [FIRST]
        renewed = TritonClient(target, channel_max_age=0.5)
        kept = TritonClient(target, channel_max_age=3600)
        try:
            assert await share_of_calls(renewed, tritons) == {FIRST: 40, SECOND: 0}
            assert await share_of_calls(kept, tritons) == {FIRST: 40, SECOND: 0}
            dns.addresses = [FIRST, SECOND]  # a task comes
            await asyncio.sleep(0.6)
            share = await share_of_calls(renewed, tritons)
            assert min(share.values()) >= 10, share  # round_robin: about half each
            # A channel never renewed never asks DNS again: the new task gets nothing.
            assert await share_of_calls(kept, tritons) == {FIRST: 40, SECOND: 0}
            dns.addresses = [SECOND]  # the first task goes
            await first.stop(None)
            await asyncio.sleep(0.6)
            assert await share_of_calls(renewed, tritons) == {FIRST: 0, SECOND: 40}
            assert renewed.connection.channels_opened >= 3
        finally:
            await renewed.close()
            await kept.close()
            await second.stop(None)

    asyncio.run(scenario())


READY = service_pb2.ModelReadyRequest(name="sentiment")


def test_a_replaced_channel_serves_its_calls_then_is_closed() -> None:
    port = grpc_port_free_on(FIRST)

    async def scenario() -> None:
        server, _ = await start_ready_triton(f"{FIRST}:{port}")
        connection = TritonConnection(f"{FIRST}:{port}", channel_options(10, 5), max_age=0.05)
        try:
            async with connection.client() as old:
                await asyncio.sleep(0.1)  # past its age: the next call gets a new channel
                async with connection.client() as new:
                    assert new is not old and (await new.ModelReady(READY)).ready
                assert (await old.ModelReady(READY)).ready  # still open for its call
            with pytest.raises(grpc.aio.UsageError):  # closed after its last call
                await old.ModelReady(READY)
            assert connection.channels_opened == 2
        finally:
            await connection.close()
            await server.stop(None)

    asyncio.run(scenario())


def test_a_bare_address_is_resolved_by_dns_and_other_targets_are_kept() -> None:
    assert channel_target("triton:8001") == "dns:///triton:8001"
    assert channel_target("dns://10.0.0.2/triton:8001") == "dns://10.0.0.2/triton:8001"
    assert channel_target("ipv4:10.0.0.1:8001") == "ipv4:10.0.0.1:8001"


async def connections_over_an_idle_pause(url: str) -> int:
    """A call, a pause long enough for several keepalive pings, a call: how many
    connections the channel needed (a GOAWAY too_many_pings costs one more)."""
    proxy = await FreezableProxy(url).start()
    client = TritonClient(proxy.url, keepalive=0.2, keepalive_timeout=1)
    try:
        assert await client.ready("sentiment")
        await asyncio.sleep(4.5)  # grpc spaces pings >= 1 s apart: 4 would be sent
        assert await client.ready("sentiment")
        return proxy.connections
    finally:
        await client.close()
        await proxy.close()


def test_idle_keepalive_pings_stay_within_a_grpc_servers_default_ping_policy() -> None:
    """A gRPC server by default allows a client without calls one ping per 2 hours and
    answers a third early one with GOAWAY too_many_pings; our channel pings at most twice
    between calls, so it keeps its connection."""
    port = grpc_port_free_on(FIRST)

    async def scenario() -> int:
        server, _ = await start_ready_triton(f"{FIRST}:{port}")
        try:
            return await connections_over_an_idle_pause(f"{FIRST}:{port}")
        finally:
            await server.stop(None)

    assert asyncio.run(scenario()) == 1
