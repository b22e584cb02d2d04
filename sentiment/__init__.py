"""Sentiment inference service: the `sentiment` command and shared settings."""
