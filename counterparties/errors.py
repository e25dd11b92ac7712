"""Typed errors of the counterparties app: bad requisites and refused merges."""

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _


class InvalidValue(ValidationError):
    """One field's value is bad: carries the field name and a reason code.

    A Django ValidationError, so forms, model `clean()` and DRF serializers show the message as they are.
    `reason` is a stable code (`checksum`, `length`, `not_digits`, `all_zeros`, `format`, `foreign`,
    `invalid`, `required`, `not_allowed`); the message is translated and names the field.
    """

    def __init__(self, field: str, reason: str, message, params: dict | None = None):
        super().__init__(message, code=reason, params={"field": field, **(params or {})})
        self.field = field
        self.reason = reason

    def as_field_error(self) -> ValidationError:
        """`{field: [message]}`, the shape model `clean()` raises so the form shows it next to the field."""
        return ValidationError({self.field: [ValidationError(self.message, code=self.code, params=self.params)]})


class MergeRefused(Exception):
    """A merge that must not happen (different kinds, different ИНН, a row already merged …)."""

    def __init__(self, reason: str, message):
        super().__init__(str(message))
        self.reason = reason
        self.message = message


class DuplicateCounterparty(InvalidValue):
    """The natural key (ИНН+КПП, ИНН of an ИП, an individual's phone / e-mail) already belongs to another row."""

    def __init__(self, field: str, label, existing_id: int, existing_name: str):
        super().__init__(
            field,
            "duplicate",
            _("A counterparty with this %(label)s already exists: “%(name)s” (#%(id)s)."),
            {"label": label, "name": existing_name, "id": existing_id},
        )
        self.existing_id = existing_id
