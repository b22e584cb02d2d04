"""The durable audit path: local write-ahead spool, then the `audit_records` table."""

from gateway.audit.log import SpooledAuditLog
from gateway.audit.records import decode_record, encode_record, row_to_json, text_digest
from gateway.audit.segments import SpoolLocked
from gateway.audit.spool import AuditSpool
from gateway.audit.store import AuditStore

__all__ = [
    "AuditSpool",
    "AuditStore",
    "SpoolLocked",
    "SpooledAuditLog",
    "decode_record",
    "encode_record",
    "row_to_json",
    "text_digest",
]
