"""The configuration error every component raises for a missing or invalid setting."""

from __future__ import annotations


class ConfigurationError(ValueError):
    """A setting is missing or invalid; the message names the variable as it was set."""
