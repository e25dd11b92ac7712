"""Typed errors of the documents domain; `field` names the input an error is about."""

from __future__ import annotations


class DocumentError(Exception):
    field: str | None = None

    def __init__(self, message, *, field: str | None = None):
        super().__init__(f"{field}: {message}" if field else str(message))
        self.message = message
        self.field = field


class InvalidInput(DocumentError):
    """Bad input to a documents action (unknown kind, negative amount, naive datetime, …)."""


class UnknownOrder(DocumentError):
    """A payment or document refers to an order we don't have."""


class DuplicateErpId(DocumentError):
    """The ERP id is already bound to another document or payment."""


class MissingRequisites(DocumentError):
    """Our organization's requisites (or, for an invoice, its bank account) are unknown: nothing is rendered."""
