"""Per-call state shared by the core and the transport through context variables."""

from __future__ import annotations

import contextvars

current_call: contextvars.ContextVar[str] = contextvars.ContextVar("current_call", default="-")
"""The call being served, as log lines name it (`request <id> audit <id>`; set by the core
service once it has both ids)."""
