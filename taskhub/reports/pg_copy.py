"""CSV straight out of PostgreSQL: ``COPY (query) TO STDOUT WITH CSV``, 5x as fast as
iterating rows in Python (benchmark B6), in the same constant memory.

The report's query is wrapped so that PostgreSQL writes each cell as
``reports.csv_writer.cell`` would: text that a spreadsheet would run as a formula gets a leading
quote, amounts keep two decimals, times are written as Python writes them (UTC, ISO
8601 with a space). The copy runs on a connection of its own, so the progress written
meanwhile through Django's connection is seen at once; progress is measured against the
planner's estimate, the row count is the one COPY reports.
"""

import importlib.util
import time
from collections.abc import Callable, Sequence
from typing import Any, BinaryIO

from django.db import connection

#: PostgreSQL type OIDs, from ``pg_type``.
TEXT_TYPES = {19, 25, 1042, 1043}
NUMERIC = 1700
TIMESTAMPTZ = 1184
#: Seconds between progress writes at least: the estimate may be far off.
PROGRESS_INTERVAL = 0.5
FORMULA_STARTS = "'=', '+', '-', '@', E'\\t', E'\\r'"


def available() -> bool:
    """On PostgreSQL through psycopg 3 (optional: ``taskhub[postgres]``); psycopg2 and
    other databases take the row-by-row path."""
    return connection.vendor == "postgresql" and importlib.util.find_spec("psycopg") is not None


def cell_sql(column: str, type_code: int) -> str:
    if type_code in TEXT_TYPES:
        return (
            f"CASE WHEN left({column}, 1) IN ({FORMULA_STARTS}) "
            f"THEN '''' || {column} ELSE {column} END"
        )
    if type_code == NUMERIC:
        return f"round({column}, 2)"
    if type_code == TIMESTAMPTZ:
        utc = f"({column} AT TIME ZONE 'UTC')"
        return (
            f"to_char({utc}, 'YYYY-MM-DD HH24:MI:SS') "
            f"|| CASE WHEN date_part('microseconds', {utc})::int % 1000000 = 0 THEN '' "
            f"ELSE to_char({utc}, '.US') END || '+00:00'"
        )
    return column


def copy_csv(
    sql: str,
    params: Sequence[Any],
    header: tuple[str, ...],
    out: BinaryIO,
    on_progress: Callable[[int, int], None],
    updates: int,
) -> int:
    """Write ``header`` and the rows of ``sql`` as CSV to ``out``; return the rows,
    calling ``on_progress(done, expected)`` at most ``updates`` times for a right
    estimate, and never more than every ``PROGRESS_INTERVAL`` seconds."""
    # The SQL is Django's own for a queryset, or a report kind's, with its parameters
    # quoted by psycopg (mogrify), wrapped in column names made here.
    import psycopg

    own = connection.get_new_connection(connection.get_connection_params())
    try:
        with psycopg.ClientCursor(own) as cursor:
            query = cursor.mogrify(sql, params)
            cursor.execute(f"SELECT * FROM ({query}) AS q LIMIT 0")  # noqa: S608
            assert cursor.description is not None  # a SELECT's result has columns
            columns = [f"c{i}" for i in range(len(cursor.description))]
            cells = ", ".join(
                cell_sql(name, column.type_code)
                for name, column in zip(columns, cursor.description, strict=True)
            )
            wrapped = f"SELECT {cells} FROM ({query}) AS q({', '.join(columns)})"  # noqa: S608
            expected = planned_rows(cursor, wrapped)
            out.write((",".join(header) + "\n").encode())
            step = max(expected // updates, 1)
            done, next_update, next_time = 0, step, time.monotonic() + PROGRESS_INTERVAL
            with cursor.copy(f"COPY ({wrapped}) TO STDOUT WITH (FORMAT csv)") as copy:
                for data in copy:
                    out.write(data)
                    done += bytes(data).count(b"\n")
                    if done >= next_update and time.monotonic() >= next_time:
                        on_progress(min(done, expected), expected)
                        next_update = done + step
                        next_time = time.monotonic() + PROGRESS_INTERVAL
            return cursor.rowcount
    finally:
        own.close()


def planned_rows(cursor: Any, query: str) -> int:
    """The planner's estimate: counting first would read every row twice."""
    cursor.execute(f"EXPLAIN (FORMAT JSON) {query}")
    return max(int(cursor.fetchone()[0][0]["Plan"]["Plan Rows"]), 1)
