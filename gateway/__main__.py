"""`python -m gateway`: serve the gateway alone (what `sentiment gateway` runs)."""

import sys

from config.errors import ConfigurationError
from gateway.server import serve_gateway

if __name__ == "__main__":
    try:
        sys.exit(serve_gateway())
    except ConfigurationError as error:
        print(f"gateway: {error}", file=sys.stderr)
        sys.exit(2)
