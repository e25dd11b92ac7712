"""MoySklad's sync cursors are the importers' ("moysklad.<area>" in Backend.cursors); importable from here."""

from integration.erp.importers.cursors import get_cursor, set_cursor

__all__ = ["get_cursor", "set_cursor"]
