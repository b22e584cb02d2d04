"""The `sentiment` command line: the top of the package graph; nothing imports it."""
