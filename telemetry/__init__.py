"""Observability shared by the long-running components (a leaf: imports nothing of ours)."""
