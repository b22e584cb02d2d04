"""`python -m gateway`: the same as `sentiment gateway`."""

import argparse
import sys

from gateway.cli import run_gateway

if __name__ == "__main__":
    sys.exit(run_gateway(argparse.Namespace()))
