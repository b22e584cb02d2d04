"""Settings shared by every component: the environment conventions, the state directory,
the pipeline and Triton's address. A leaf: imports nothing else of the project."""

from config.errors import ConfigurationError, DeprecatedVariableWarning

__all__ = ["ConfigurationError", "DeprecatedVariableWarning"]
