"""The client SDK of the gateway's public API (`sentiment.v1`)."""
