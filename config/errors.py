"""The configuration error every component raises, and the warning an old variable gets."""

from __future__ import annotations


class ConfigurationError(ValueError):
    """A setting is missing or invalid; the message names the variable as it was set."""


class DeprecatedVariableWarning(FutureWarning):
    """An environment variable was renamed (or retired); it still works for one release.

    A FutureWarning rather than a DeprecationWarning: Python shows FutureWarnings to the
    people who run a program, and hides DeprecationWarnings outside `__main__`; the person
    who set the variable is the one who has to change it.
    """
