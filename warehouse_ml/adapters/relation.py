"""A schema-qualified relation name and identifier quoting: the bottom floor."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Relation:
    """A schema-qualified table or view name; ``str()`` gives it quoted."""

    schema: str
    identifier: str

    @property
    def name(self) -> str:
        return self.identifier

    def __str__(self) -> str:
        return f"{quote(self.schema)}.{quote(self.identifier)}"

    def with_suffix(self, suffix: str) -> Relation:
        return Relation(self.schema, self.identifier + suffix)


def quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'
