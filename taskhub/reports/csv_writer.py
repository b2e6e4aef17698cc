"""Rows to CSV: cells made safe for spreadsheets, rows fetched a chunk at a time, and
progress reported as they are written. Used where PostgreSQL's ``COPY`` is not
(``taskhub.reports.pg_copy``)."""

import csv
import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from decimal import Decimal
from typing import Any

from django.db import connection
from django.db.models import QuerySet

from taskhub.reports.registry import SQL, Rows

PROGRESS_UPDATES = 50
CHUNK_SIZE = 5000
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def cell(value: Any) -> Any:
    """A CSV cell: text made inert in spreadsheets (OWASP CSV injection), and amounts
    with two decimals (SQLite sums decimals without their scale)."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    return value


def sql_with_params(rows: Rows) -> tuple[str, Sequence[Any]]:
    if isinstance(rows, SQL):
        return rows.sql, tuple(rows.params)
    return rows.query.sql_with_params()


def count(rows: Rows) -> int:
    if isinstance(rows, QuerySet):
        return rows.count()
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM ({rows.sql}) AS q", rows.params)  # noqa: S608
        return cursor.fetchone()[0]


def iterate(rows: Rows) -> Iterator[list[Any]]:
    """Every row as a list of CSV cells, fetched ``CHUNK_SIZE`` at a time."""
    if connection.vendor == "sqlite":
        yield from iterate_in_separate_queries(rows)
        return
    if isinstance(rows, QuerySet):
        for row in rows.iterator(chunk_size=CHUNK_SIZE):
            yield [cell(value) for value in row]
        return
    with connection.cursor() as cursor:
        cursor.execute(rows.sql, rows.params)
        while chunk := cursor.fetchmany(CHUNK_SIZE):
            for row in chunk:
                yield [cell(value) for value in row]


def iterate_in_separate_queries(rows: Rows) -> Iterator[list[Any]]:
    """On SQLite, one query per chunk, so that no read stays open while progress is
    written: in WAL mode, a connection whose read began before another connection's
    commit cannot write ("database is locked" at once, not after the busy timeout), and
    workers commit all the time. Rows added meanwhile may shift a chunk: SQLite is the
    development default; production runs on PostgreSQL, which streams."""
    for offset in itertools.count(0, CHUNK_SIZE):
        if isinstance(rows, QuerySet):
            chunk = list(rows[offset : offset + CHUNK_SIZE])
        else:
            with connection.cursor() as cursor:
                page = f"SELECT * FROM ({rows.sql}) AS q LIMIT %s OFFSET %s"  # noqa: S608
                cursor.execute(page, [*rows.params, CHUNK_SIZE, offset])
                chunk = cursor.fetchall()
        for row in chunk:
            yield [cell(value) for value in row]
        if len(chunk) < CHUNK_SIZE:
            return


def write_csv(
    header: Iterable[str],
    rows: Iterable[list[Any]],
    out: Any,
    total: int,
    on_progress: Callable[[int, int], None],
) -> int:
    """Write rows to ``out``, calling ``on_progress(done, total)`` at most ~50 times."""
    writer = csv.writer(out)
    writer.writerow(header)
    step = max(total // PROGRESS_UPDATES, 1)
    done = 0
    for done, row in enumerate(rows, start=1):
        writer.writerow(row)
        if done % step == 0:
            on_progress(done, total)
    return done
