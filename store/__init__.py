"""The gateway's database: tables, engine factory and migrations."""

from store.engine import as_utc, make_engine
from store.migrate import current_revision, upgrade_database
from store.models import ApiKey, AuditRow, Base, DriftRow

__all__ = [
    "ApiKey",
    "AuditRow",
    "Base",
    "DriftRow",
    "as_utc",
    "current_revision",
    "make_engine",
    "upgrade_database",
]
