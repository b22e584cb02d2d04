"""The gateway's one error hierarchy; each class carries its gRPC status and details.

Backend errors (tritonclient, the audit log, the key store) are translated into these
where the backend is called; `gateway.transport.interceptor.ErrorInterceptor` is the one place that
turns them into gRPC statuses. Messages are shown to clients, so they never carry
internal details: those go to the logs.
"""

from __future__ import annotations

from dataclasses import dataclass

import grpc
from google.protobuf import duration_pb2
from google.protobuf.message import Message
from google.rpc import error_details_pb2

import config.errors


@dataclass(frozen=True)
class FieldViolation:
    """One bad field of a request: `field` is its path (`text`, `texts[3]`, `request_id`)."""

    field: str
    description: str


class GatewayError(Exception):
    """Base class: a failure with a gRPC status code and a client-safe message."""

    code: grpc.StatusCode = grpc.StatusCode.INTERNAL
    reason: str | None = None
    """Label of `sentiment_gateway_rejections_total` (None: a failure, not a rejection)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        self.audit_id: str | None = None
        """The refused attempt's audit id, set by the service once it is recorded."""

    def details(self) -> list[Message]:
        """google.rpc detail messages sent with the status (none by default)."""
        return []


def _retry_info(seconds: float) -> error_details_pb2.RetryInfo:
    delay = duration_pb2.Duration()
    delay.FromNanoseconds(max(int(seconds * 1e9), 1_000_000))
    return error_details_pb2.RetryInfo(retry_delay=delay)


class ConfigurationError(GatewayError, config.errors.ConfigurationError):
    """A missing or invalid setting, or a deployment the gateway cannot start with."""

    code = grpc.StatusCode.FAILED_PRECONDITION


class ValidationError(GatewayError):
    """A request the gateway refuses to process: INVALID_ARGUMENT with BadRequest."""

    code = grpc.StatusCode.INVALID_ARGUMENT
    reason = "invalid"

    def __init__(self, violations: list[FieldViolation]) -> None:
        super().__init__("; ".join(f"{v.field}: {v.description}" for v in violations))
        self.violations = violations

    def details(self) -> list[Message]:
        return [
            error_details_pb2.BadRequest(
                field_violations=[
                    error_details_pb2.BadRequest.FieldViolation(
                        field=v.field, description=v.description
                    )
                    for v in self.violations
                ]
            )
        ]


class MessageTooLarge(ValidationError):
    """A request message over the configured size: RESOURCE_EXHAUSTED with BadRequest."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED
    reason = "message_too_large"


class AuthenticationError(GatewayError):
    """No, malformed, unknown or revoked API key."""

    code = grpc.StatusCode.UNAUTHENTICATED
    reason = "unauthenticated"


class PermissionDeniedError(GatewayError):
    """A valid key that may not do what it asked."""

    code = grpc.StatusCode.PERMISSION_DENIED
    reason = "permission_denied"


class RateLimited(GatewayError):
    """The key's token bucket is empty: RESOURCE_EXHAUSTED with QuotaFailure, RetryInfo."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED
    reason = "rate_limited"

    def __init__(self, key_id: str, retry_after: float) -> None:
        super().__init__(f"rate limit exceeded; retry in {retry_after:.3f}s")
        self.key_id = key_id
        self.retry_after = retry_after

    def details(self) -> list[Message]:
        violation = error_details_pb2.QuotaFailure.Violation(
            subject=f"key:{self.key_id}", description="texts per second per API key"
        )
        return [
            error_details_pb2.QuotaFailure(violations=[violation]),
            _retry_info(self.retry_after),
        ]


class StreamLimitExceeded(GatewayError):
    """A stream went idle, lived or carried more than its limits allow: it is ended with
    RESOURCE_EXHAUSTED (the client may open a new one)."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED
    reason = "stream_limit"


class Overloaded(GatewayError):
    """Too many requests in flight: shed fast with RESOURCE_EXHAUSTED and RetryInfo."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED
    reason = "overloaded"

    def __init__(
        self, retry_after: float = 0.1, message: str = "server overloaded; retry later"
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after

    def details(self) -> list[Message]:
        return [_retry_info(self.retry_after)]


class ModelOverloaded(Overloaded):
    """Triton refused the call (its queue is full or the call waited too long in it): not
    retried upstream; the caller gets RESOURCE_EXHAUSTED with RetryInfo and decides."""

    reason = "model_overloaded"

    def __init__(self, retry_after: float) -> None:
        super().__init__(retry_after, "model server overloaded; retry later")


class Unavailable(GatewayError):
    """A dependency is down: UNAVAILABLE with RetryInfo (callers should retry)."""

    code = grpc.StatusCode.UNAVAILABLE
    reason = "unavailable"

    def __init__(self, message: str, retry_after: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after

    def details(self) -> list[Message]:
        return [_retry_info(self.retry_after)]


class ModelUnavailable(Unavailable):
    """Triton is unreachable or the model is not ready."""

    reason = "model_unavailable"


class DatabaseUnavailable(Unavailable):
    """The audit log (spool full) or the key store cannot take the request."""

    reason = "database_unavailable"


class DeadlineExceeded(GatewayError):
    """The caller's deadline left no time, or ran out, for the model call."""

    code = grpc.StatusCode.DEADLINE_EXCEEDED
    reason = "deadline_exceeded"


class InternalError(GatewayError):
    """A bug or an unexpected backend answer; the client sees only a generic message."""

    code = grpc.StatusCode.INTERNAL

    def __init__(self, message: str = "internal error") -> None:
        super().__init__(message)
