"""Implementations of the core's persistence contracts: audit log, API keys, drift samples."""
