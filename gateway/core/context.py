"""Per-call state shared by the core and the transport through context variables."""

from __future__ import annotations

import contextvars

current_request_id: contextvars.ContextVar[str] = contextvars.ContextVar(
    "current_request_id", default="-"
)
"""The request id of the call being served (set by the core service), for log lines."""
