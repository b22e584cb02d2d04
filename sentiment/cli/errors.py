"""Which failures are expected, and the one line each prints (`sentiment.cli.main`).

An expected failure is one an operator can act on: bad configuration, a model that fails
its parity gate, a Triton that cannot start, a database that does not answer, a drift
reference that is missing, perf_analyzer not installed. The component modules are
imported only once something failed, so a healthy command never pays for them.
"""

from __future__ import annotations

CONFIGURATION = 2
"""Exit code of a configuration error (as argparse uses for bad arguments)."""
FAILURE = 1


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[0] if lines else ""


def _database_problem(error: Exception) -> str | None:
    from sqlalchemy import exc

    if isinstance(error, exc.OperationalError | exc.InterfaceError):
        cause = _first_line(str(error.orig)) if error.orig is not None else type(error).__name__
        return f"database unreachable: {cause}"
    return None


def describe(error: Exception) -> tuple[int, str] | None:
    """(exit code, one-line message) for an expected failure; None for a bug."""
    from pydantic import ValidationError

    from config.errors import ConfigurationError
    from export.errors import ExportError
    from monitoring.reference import DriftReferenceError
    from rollout.control import RolloutError
    from serving.perf import PerfAnalyzerError
    from serving.tritonserver import TritonServerError

    if isinstance(error, ValidationError):
        problems = "; ".join(
            f"{'.'.join(str(part) for part in e['loc']) or error.title}: {e['msg']}"
            for e in error.errors()
        )
        return CONFIGURATION, f"invalid {error.title} setting: {problems}"
    if isinstance(error, ConfigurationError):
        return CONFIGURATION, _first_line(str(error))
    expected = (
        ExportError | TritonServerError | PerfAnalyzerError | DriftReferenceError | RolloutError
    )
    if isinstance(error, expected):
        return FAILURE, _first_line(str(error))
    problem = _database_problem(error)
    if problem is not None:
        return FAILURE, problem
    return None
