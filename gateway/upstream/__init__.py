"""Clients of the services the gateway calls (Triton)."""
