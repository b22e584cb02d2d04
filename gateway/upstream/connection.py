"""The gateway's gRPC channel to Triton: keepalive on, every address of Triton's DNS name
used (round_robin), and the channel replaced once it is `max_age` seconds old. Calls go
through the stub generated from Triton's own protocol (`tritonclient.grpc.service_pb2_grpc`):
the gateway builds and reads the protobuf messages itself (`triton_client`), without
tritonclient's InferInput/InferResult layer, which cost about a tenth of its CPU per call.

Triton's gRPC server has no maximum connection age, so a healthy connection lives forever
and a client never asks DNS again: Triton tasks added behind the name would get no calls
from a running gateway. A new channel resolves the name afresh and connects to every
address; the old one finishes its calls and is closed. A connection lost meanwhile (a
task that went away) makes grpc re-resolve at once, no more often than every
`DNS_MIN_RESOLUTION_INTERVAL_MS`.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import grpc
from tritonclient.grpc.service_pb2_grpc import GRPCInferenceServiceStub as TritonStub

INT32_MAX = 2**31 - 1
DNS_MIN_RESOLUTION_INTERVAL_MS = 5_000
"""grpc's default is 30 s: a lost Triton task would keep the remaining ones from new
addresses that long."""


def channel_target(url: str) -> str:
    """`host:port` as a `dns:///` target (re-resolved, every address); others as given."""
    if "://" in url or url.startswith(("dns:", "unix:", "ipv4:", "ipv6:")):
        return url
    return f"dns:///{url}"


def channel_options(keepalive_s: float, keepalive_timeout_s: float) -> list[tuple[str, Any]]:
    """Options of the channel to Triton."""
    timeout_ms = int(keepalive_timeout_s * 1000)
    return [
        ("grpc.max_send_message_length", INT32_MAX),
        ("grpc.max_receive_message_length", INT32_MAX),
        # A ping unanswered within the timeout closes the connection, so a Triton that
        # vanished without closing its sockets fails calls fast instead of at their
        # deadline. grpc 1.85 times keepalive pings out with the ping timeout, hence both.
        ("grpc.keepalive_time_ms", int(keepalive_s * 1000)),
        ("grpc.keepalive_timeout_ms", timeout_ms),
        ("grpc.http2.ping_timeout_ms", timeout_ms),
        # Triton's default ping policy (a ping per 5 minutes without data, per 2 hours
        # without calls, 2 strikes) tolerates two pings between data frames: pinging while
        # idle is allowed, but at most twice before the next call, or Triton would answer
        # GOAWAY too_many_pings.
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.max_pings_without_data", 2),
        # Every address Triton's name resolves to, re-resolved soon after one is lost.
        ("grpc.lb_policy_name", "round_robin"),
        ("grpc.dns_min_time_between_resolutions_ms", DNS_MIN_RESOLUTION_INTERVAL_MS),
        # DNS chooses addresses, never the load balancing or retries (TXT service config).
        ("grpc.service_config_disable_resolution", 1),
        # A new channel makes its own connections instead of sharing the old channel's
        # (grpc's global subchannel pool would hand it the same ones).
        ("grpc.use_local_subchannel_pool", 1),
    ]


@dataclass(eq=False)
class _Channel:
    channel: grpc.aio.Channel
    client: TritonStub
    expires: float
    calls: int = 0


class TritonConnection:
    """Triton's stub over a channel that is replaced at `max_age` seconds.

    `async with connection.client() as client:` around each call: a call keeps the channel
    it started on, and a replaced channel is closed when its last call ends. Create inside
    the running loop.
    """

    def __init__(self, url: str, options: list[tuple[str, Any]], max_age: float) -> None:
        self.target = channel_target(url)
        self.options = options
        self.max_age = max_age
        self.channels_opened = 0
        self._current = self._open()
        self._retired: set[_Channel] = set()

    def _open(self) -> _Channel:
        self.channels_opened += 1
        channel = grpc.aio.insecure_channel(self.target, options=self.options)
        return _Channel(channel, TritonStub(channel), time.monotonic() + self.max_age)

    @contextlib.asynccontextmanager
    async def client(self) -> AsyncIterator[TritonStub]:
        channel = self._current
        if time.monotonic() >= channel.expires:
            self._retired.add(channel)
            channel = self._current = self._open()
        channel.calls += 1
        try:
            yield channel.client
        finally:
            channel.calls -= 1
            await self._close_retired()

    async def _close_retired(self) -> None:
        idle = [channel for channel in self._retired if channel.calls == 0]
        self._retired.difference_update(idle)
        for channel in idle:
            await channel.channel.close()

    async def close(self) -> None:
        """Close every channel (calls still on them are cancelled)."""
        channels, self._retired = [self._current, *self._retired], set()
        for channel in channels:
            await channel.channel.close()
