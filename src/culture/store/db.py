"""DuckDB helpers: one explicit transaction per import, bulk inserts, lock detection."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from typing import Any

import duckdb
import pandas as pd

# ----------------------------------------------------------------------------- db helpers

def is_lock_error(exc: BaseException) -> bool:
    text = str(exc).lower()
    return "lock" in text and ("conflicting" in text or "could not set" in text)


def next_id(con: duckdb.DuckDBPyConnection, table: str, column: str) -> int:
    # max+1 inside the writing transaction: the file lock makes us the only writer
    return int(scalar(con, f"SELECT coalesce(max({column}), 0) + 1 FROM {table}"))


def scalar(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> Any:
    # fetchall, not fetchone: DuckDB refuses new work on a connection whose
    # result was not read to the end
    rows = con.execute(sql, params or []).fetchall()
    return rows[0][0] if rows else None


@contextlib.contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """``BEGIN`` ... ``COMMIT``, or ``ROLLBACK`` on any exception (including in ``COMMIT``)."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield
        con.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(duckdb.Error):  # a failed COMMIT has already rolled back
            con.execute("ROLLBACK")
        raise


def insert_frame(con: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame) -> None:
    """Bulk insert: register the frame and ``INSERT ... SELECT`` (never row by row)."""
    if frame.empty:
        return
    name = f"incoming_{uuid.uuid4().hex}"
    cols = ", ".join(f'"{c}"' for c in frame.columns)
    con.register(name, frame)
    try:
        con.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {name}")
    finally:
        con.unregister(name)



# ----------------------------------------------------------------------------- import internals

@contextlib.contextmanager
def maybe_transaction(con: duckdb.DuckDBPyConnection, *, write: bool) -> Iterator[None]:
    if write:
        with transaction(con):
            yield
    else:
        yield
