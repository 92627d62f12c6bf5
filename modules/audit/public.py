"""The audit module's public surface: how other modules put an action on the audit trail."""

from .trail import AuditTrail, AuditTrailDep

__all__ = ["AuditTrail", "AuditTrailDep"]
