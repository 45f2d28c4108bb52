"""Amazon Redshift, through the optional ``redshift-connector`` package.

Kept thin on purpose: models are transpiled to Redshift SQL by sqlglot and everything
else (materializations, tests, graph) is shared with DuckDB. Only SQL generation can be
tested without a cluster.
"""

from __future__ import annotations

import typing as t

import pyarrow as pa

from warehouse_ml.adapters.base import Adapter
from warehouse_ml.adapters.relation import Relation
from warehouse_ml.errors import ConfigError


class RedshiftAdapter(Adapter):
    dialect = "redshift"
    #: redshift_connector uses the DB-API 'format' paramstyle.
    placeholder = "%s"

    def __init__(self, target: t.Any, *, read_only: bool = False):
        super().__init__(target, read_only=read_only)
        self.con: t.Any = None

    def open(self) -> None:
        if self.con is not None:
            return
        try:
            import redshift_connector
        except ImportError:
            raise ConfigError(
                "target type 'redshift' needs the redshift extra.",
                hint="pip install 'warehouse-ml[redshift]'.",
            ) from None
        s = self.target.settings
        self.con = redshift_connector.connect(
            host=s.get("host"),
            port=int(s.get("port", 5439)),
            database=s.get("dbname", s.get("database")),
            user=s.get("user"),
            password=s.get("password"),
        )
        self.con.autocommit = True

    def close(self) -> None:
        if self.con is not None:
            self.con.close()
            self.con = None

    def cursor(self) -> t.Any:
        self.open()
        return self.con.cursor()

    def fetch_arrow(self, sql: str, cursor: t.Any = None) -> pa.Table:
        cur = cursor or self.cursor()
        cur.execute(sql)
        names = [d[0] for d in cur.description]
        rows = cur.fetchall()
        return pa.table({n: [r[i] for r in rows] for i, n in enumerate(names)})

    def execute(self, sql: str, parameters: t.Any = None, cursor: t.Any = None) -> list[tuple]:
        return super().execute(
            sql.replace("?", self.placeholder) if parameters else sql, parameters, cursor
        )

    def create_table_as_sql(self, relation: Relation, sql: str) -> str:
        return f"create table {relation} as\n{sql}\n"

    def create_view_sql(self, relation: Relation, sql: str) -> str:
        # Late binding keeps views valid while the tables under them are swapped.
        return f"create view {relation} as\n{sql}\nwith no schema binding"
