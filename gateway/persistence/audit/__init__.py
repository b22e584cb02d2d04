"""The durable audit path: local write-ahead spool, then the `audit_records` table."""

from gateway.persistence.audit.log import SpooledAuditLog
from gateway.persistence.audit.records import decode_record, encode_record, row_to_json
from gateway.persistence.audit.segments import SpoolLocked
from gateway.persistence.audit.spool import AuditSpool
from gateway.persistence.audit.store import AuditStore

__all__ = [
    "AuditSpool",
    "AuditStore",
    "SpoolLocked",
    "SpooledAuditLog",
    "decode_record",
    "encode_record",
    "row_to_json",
]
