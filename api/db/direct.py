"""Core statements run straight on the driver's cursor, for the hottest few queries.

``Connection.execute`` spends some 40 µs per statement on bookkeeping (cache key,
execution context, result metadata): more than SQLite takes to insert a task. A
:class:`DirectStatement` is compiled once per dialect by SQLAlchemy, keeps the types'
own bind and result processors (time zones, JSON), and then runs on the DBAPI cursor of
the caller's ``Connection``: its transaction, its locks and its begin/checkin events
stay SQLAlchemy's, and driver errors are raised as SQLAlchemy's exception classes.

Expanding ``IN`` parameters and callable defaults are not supported: compiling refuses
them.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, exc
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.selectable import Select


@dataclass(frozen=True)
class _Plan:
    sql: str
    positional: Sequence[str] | None  # parameter order for positional paramstyles
    binds: dict[str, Callable[[Any], Any]]
    fixed: dict[str, Any]  # values of parameters the caller does not pass
    results: Sequence[Callable[[Any], Any] | None] | None  # None: no rows
    row: Any


def _row_type(names: list[str]) -> Any:
    return namedtuple("Row", names)


class DirectStatement:
    """``statement`` compiled per dialect; ``column_keys`` fixes the columns of an
    ``INSERT`` (the keys every call passes)."""

    def __init__(self, statement: ClauseElement, column_keys: Sequence[str] | None = None) -> None:
        self.statement = statement
        self.column_keys = list(column_keys) if column_keys is not None else None
        self._plans: dict[str, _Plan] = {}

    def _plan(self, dialect: Dialect) -> _Plan:
        plan = self._plans.get(dialect.name)
        if plan is not None:
            return plan
        compiled: Any = self.statement.compile(dialect=dialect, column_keys=self.column_keys)
        binds: dict[str, Callable[[Any], Any]] = {}
        fixed: dict[str, Any] = {}
        table = getattr(self.statement, "table", None)
        for name, bind in compiled.binds.items():
            if bind.expanding or bind.callable is not None:
                raise ValueError(f"{name}: expanding and callable parameters are not supported")
            if not bind.required:
                # A value bound into the statement, or an INSERT column the call does not
                # pass, which takes its column's scalar default.
                value = bind.value
                if table is not None and name in table.c:
                    default = table.c[name].default
                    if default is None or not default.is_scalar:
                        raise ValueError(f"{name}: pass it, or give the column a scalar default")
                    value = default.arg
                fixed[name] = value
            processor = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if processor is not None:
                binds[name] = processor
        results: list[Callable[[Any], Any] | None] | None = None
        row_type: Any = None
        if isinstance(self.statement, Select):
            columns = list(self.statement.selected_columns)
            results = [
                c.type.dialect_impl(dialect).result_processor(dialect, None) for c in columns
            ]
            row_type = _row_type([str(c.key) for c in columns])
        plan = _Plan(
            sql=compiled.string,
            positional=list(compiled.positiontup) if dialect.positional else None,
            binds=binds,
            fixed=fixed,
            results=results,
            row=row_type,
        )
        self._plans[dialect.name] = plan
        return plan

    def _run(self, connection: Connection, params: Mapping[str, Any]) -> list[Any]:
        dialect = connection.dialect
        plan = self._plan(dialect)
        values = {
            name: (plan.binds[name](value) if name in plan.binds else value)
            for name, value in {**plan.fixed, **params}.items()
        }
        args: Any = [values[name] for name in plan.positional] if plan.positional else values
        driver = connection.connection.dbapi_connection
        assert driver is not None
        cursor = driver.cursor()
        try:
            cursor.execute(plan.sql, args)
            fetched = cursor.fetchall() if plan.results is not None else []
        except dialect.loaded_dbapi.Error as error:
            raise exc.DBAPIError.instance(
                plan.sql, args, error, dialect.loaded_dbapi.Error, dialect=dialect
            ) from error
        finally:
            cursor.close()
        if plan.results is None:
            return []
        processors = list(enumerate(plan.results))
        rows = []
        for raw in fetched:
            converted = list(raw)
            for index, processor in processors:
                if processor is not None:
                    converted[index] = processor(converted[index])
            rows.append(plan.row(*converted))
        return rows

    def execute(self, connection: Connection, params: Mapping[str, Any]) -> None:
        self._run(connection, params)

    def all(self, connection: Connection, params: Mapping[str, Any]) -> list[Any]:
        return self._run(connection, params)

    def first(self, connection: Connection, params: Mapping[str, Any]) -> Any:
        rows = self._run(connection, params)
        return rows[0] if rows else None
