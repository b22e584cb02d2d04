"""Every `sentiment` subcommand: one thin function each, one error boundary (`main`)."""

from sentiment.cli.main import main

__all__ = ["main"]
