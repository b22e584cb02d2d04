"""`python -m gateway`: serve the gateway alone (what `sentiment gateway` runs)."""

import sys

from gateway.server import serve_gateway

if __name__ == "__main__":
    sys.exit(serve_gateway())
