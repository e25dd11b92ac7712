"""Typed errors of the catalog app."""


class MergeRefused(Exception):
    """A product merge that must not happen (different base units, a row already merged, a clash in use …)."""

    def __init__(self, reason: str, message):
        super().__init__(str(message))
        self.reason = reason
        self.message = message
