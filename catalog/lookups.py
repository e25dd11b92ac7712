"""`field__any=values`: `field = ANY(%s)` with one array parameter on PostgreSQL, `IN (…)` elsewhere.

The syncs filter by thousands of ids or keys a page; `__in` binds a placeholder per value, and preparing,
quoting and splitting those (psycopg binds client-side, parsing the whole SQL text) cost more than the query
itself. Values are sent as they are: give the column's own type (ints for ids, str for text).
"""

from __future__ import annotations

from django.core.exceptions import EmptyResultSet
from django.db.models.lookups import In


class AnyOf(In):
    lookup_name = "any"

    def get_prep_lookup(self):
        if hasattr(self.rhs, "resolve_expression"):
            raise TypeError("__any takes values, not a query: use __in")
        return [value for value in self.rhs if value is not None]

    def as_postgresql(self, compiler, connection):
        if not self.rhs:
            raise EmptyResultSet
        lhs, lhs_params = self.process_lhs(compiler, connection)
        # Typed as the column: psycopg would send ids as int2[]/int4[], and a bigint compared with those has no
        # hashable operator — PostgreSQL then searches the array linearly for every row it filters.
        db_type = self.lhs.output_field.db_type(connection).split("(")[0]  # varchar(64)[] would cut longer values
        return f"{lhs} = ANY(%s::{db_type}[])", (*lhs_params, list(self.rhs))
