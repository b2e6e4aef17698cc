"""Reports: long CSV exports with progress, of every kind registered here.

What hosts use is importable from ``taskhub.reports`` itself::

    from taskhub import reports

    reports.register(reports.ReportKind(...))

The kinds and their registry (``registry``), the CSV writer (``csv_writer``), PostgreSQL's
COPY path (``pg_copy``), a report's life (``lifecycle``), the emails it sends
(``notices``), the tasks and the views are the modules of this package.
"""

from taskhub.reports.registry import (
    SQL,
    ReportKind,
    ReportParamsError,
    date_range,
    get_kind,
    kinds,
    register,
    validate_date_range,
)

__all__ = [
    "SQL",
    "ReportKind",
    "ReportParamsError",
    "date_range",
    "get_kind",
    "kinds",
    "register",
    "validate_date_range",
]
