"""The contract's tests need no fixtures of their own: its functions are pure."""
