"""A schema-qualified relation name and identifier quoting: the bottom floor."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Relation:
    """A schema-qualified table or view name; ``str()`` gives it quoted.

    ``database`` is set only for a relation outside the target's database (dbt's
    ``database`` config or ``generate_database_name``): then the name has three parts.
    """

    schema: str
    identifier: str
    database: str | None = None

    @property
    def name(self) -> str:
        return self.identifier

    def __str__(self) -> str:
        prefix = f"{quote(self.database)}." if self.database else ""
        return f"{prefix}{quote(self.schema)}.{quote(self.identifier)}"

    def with_suffix(self, suffix: str) -> Relation:
        return Relation(self.schema, self.identifier + suffix, self.database)


def quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'
