"""The report kinds: what a report of each kind contains, and the registry of them.

A kind says which parameters it takes and which rows it yields: a ``QuerySet`` (of
``values_list``) or raw ``SQL``, which ``taskhub.reports.lifecycle`` streams to CSV.
taskhub registers one kind of its own, ``signups``.

A host registers its own kinds, typically from its ``AppConfig.ready()``::

    reports.register(reports.ReportKind(
        name="orders", title="Orders", columns=("number", "created_at", "amount"),
        rows=lambda params: Order.objects.filter(
            created_at__range=reports.date_range(params)
        ).values_list("number", "created_at", "amount"),
    ))
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.utils import timezone

MAX_RANGE_DAYS = 3660


class ReportParamsError(ValueError):
    """The kind or the parameters of a report request are not acceptable: the message
    says why, to the person who asked; ``field`` says where, for a program
    (``"kind"``, ``"params"``, ``"params.start"``)."""

    def __init__(self, message: str, field: str = "params") -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class SQL:
    """Rows from raw SQL, with placeholders (``%s``) for ``params``. Never format a
    request's values into ``sql``: pass them as ``params``."""

    sql: str
    params: Sequence[Any] = ()


Rows = QuerySet[Any, Any] | SQL


def _date_param(params: dict[str, Any], name: str) -> date:
    """``params[name]`` as a date, or ReportParamsError in words and with its path."""
    path, words = f"params.{name}", f"{name} date"
    value = params.get(name)
    if value is None or value == "":
        raise ReportParamsError(f"Choose the {words}.", path)
    try:
        parsed = date.fromisoformat(value)
    except (TypeError, ValueError):
        raise ReportParamsError(
            f"The {words} must be a date written like 2026-01-31.", path
        ) from None
    if parsed in (date.min, date.max):
        raise ReportParamsError(f"The {words} is out of range.", path)
    return parsed


def validate_date_range(params: Any) -> dict[str, str]:
    """``{"start": "YYYY-MM-DD", "end": "YYYY-MM-DD"}``: both inclusive, at most
    ``MAX_RANGE_DAYS`` apart. The default parameters of a report kind."""
    if not isinstance(params, dict):
        raise ReportParamsError("Give the report's dates as a start and an end.")
    unknown = set(params) - {"start", "end"}
    if unknown:
        raise ReportParamsError(f"This report takes no {', '.join(sorted(unknown))}.")
    dates = {name: _date_param(params, name) for name in ("start", "end")}
    if dates["end"] < dates["start"]:
        raise ReportParamsError("The end date is before the start date.", "params.end")
    if (dates["end"] - dates["start"]).days > MAX_RANGE_DAYS:
        raise ReportParamsError(
            f"The dates are more than {MAX_RANGE_DAYS} days apart: choose a shorter range."
        )
    return {name: value.isoformat() for name, value in dates.items()}


def date_range(params: dict[str, str]) -> tuple[datetime, datetime]:
    """The half-open datetime interval, in the current time zone, of two inclusive dates."""
    tz = timezone.get_current_timezone()
    start = datetime.combine(date.fromisoformat(params["start"]), time.min, tz)
    end = datetime.combine(date.fromisoformat(params["end"]) + timedelta(days=1), time.min, tz)
    return start, end


@dataclass(frozen=True)
class ReportKind:
    """What a report of this kind contains.

    ``rows(params)`` gets the parameters ``validate`` cleaned; it yields the columns
    ``header()`` names, in that order. A ``daily`` kind is made
    every night for the day before, and sent to ``TASKHUB_DAILY_REPORT_RECIPIENTS``.
    """

    name: str
    title: str
    columns: tuple[str, ...] | Callable[[], tuple[str, ...]]
    rows: Callable[[dict[str, Any]], Rows]
    validate: Callable[[Any], dict[str, Any]] = field(default=validate_date_range)
    daily: bool = False

    def header(self) -> tuple[str, ...]:
        """The CSV's header: ``columns``, or what it returns when it is a function (read
        when a report is made, for columns that depend on the project, like its user
        model's fields)."""
        return self.columns() if callable(self.columns) else self.columns


_registry: dict[str, ReportKind] = {}


def register(kind: ReportKind) -> ReportKind:
    """Make ``kind`` available to the API, the pages and the workers.

    Registering the same name twice replaces the kind (a host may replace taskhub's).
    """
    _registry[kind.name] = kind
    return kind


def kinds() -> dict[str, ReportKind]:
    return dict(_registry)


def title_of(name: str) -> str:
    """The title of the kind ``name``; the name itself once it is no longer registered."""
    kind = _registry.get(name)
    return kind.title if kind else name


def get_kind(name: Any) -> ReportKind:
    if not isinstance(name, str) or name not in _registry:
        titles = ", ".join(sorted(kind.title for kind in _registry.values()))
        raise ReportParamsError(f"Choose a kind of report: {titles}.", "kind")
    return _registry[name]


def validate(kind: Any, params: Any) -> dict[str, Any]:
    """Clean the parameters of a report request of ``kind``, or ReportParamsError."""
    return get_kind(kind).validate(params)


def signup_columns() -> tuple[str, ...]:
    """The user model's login field, its address field and, if it has one,
    ``date_joined``: ``username,email,date_joined`` for Django's own model,
    ``email,date_joined`` for an email-login one."""
    model = get_user_model()
    names = dict.fromkeys([model.USERNAME_FIELD, model.get_email_field_name(), "date_joined"])
    present = {field.name for field in model._meta.get_fields()}
    return tuple(name for name in names if name in present)


def _signups(params: dict[str, str]) -> QuerySet[Any, Any]:
    start, end = date_range(params)
    users = get_user_model()._default_manager.filter(date_joined__gte=start, date_joined__lt=end)
    return users.order_by("date_joined", "pk").values_list(*signup_columns())


def validate_signups(params: Any) -> dict[str, str]:
    """A date range, over a user model that records when each user joined."""
    if "date_joined" not in signup_columns():
        raise ReportParamsError("Sign-up reports need a user model with a date_joined field.")
    return validate_date_range(params)


register(ReportKind("signups", "Sign-ups", signup_columns, _signups, validate_signups))
