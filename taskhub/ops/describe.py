"""The status page's words for the work: each taskhub task's name for people, and what
a run of it was about (an image, a report, a user, an address), with a link to it."""

from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.db import models
from django.urls import NoReverseMatch, reverse

from taskhub import task_names
from taskhub.models import Image, Report
from taskhub.reports.registry import title_of

TITLES = {
    task_names.WELCOME: "Welcome email",
    task_names.SEND_EMAIL: "Email",
    task_names.MAKE_THUMBNAILS: "Thumbnails",
    task_names.GENERATE_REPORT: "Report",
    task_names.SEND_DAILY_REPORTS: "Daily reports",
    task_names.RELAY_OUTBOX: "Outbox relay",
    task_names.PURGE_TASK_RESULTS: "Purge of old results",
    task_names.PURGE_EXPIRED_FILES: "Purge of expired files",
    task_names.RUN_DJANGO_TASK: "Django task",
    task_names.ENQUEUE_DJANGO_TASK: "Scheduled Django task",
}


@dataclass(frozen=True)
class Subject:
    """What a task run was about: words, and where to see it ("" when nowhere)."""

    text: str
    url: str = ""


def title(task_name: str) -> str:
    """A taskhub task's name for people; a Django task's function name in words
    (``myapp.tasks.send_receipt``: "Send receipt"); any other name as it is."""
    if task_name in TITLES:
        return TITLES[task_name]
    function = task_name.rpartition(".")[2]
    return function.replace("_", " ").capitalize() if function.isidentifier() else task_name


def admin_url(row: models.Model) -> str:
    """The admin's page of ``row``, or "" when the host's admin has none."""
    meta = row._meta
    try:
        return reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[row.pk])
    except NoReverseMatch:
        return ""


def subject(task_name: str, args: Any, kwargs: Any) -> Subject | None:
    """What a run of ``task_name`` with these arguments was about; None if nothing
    in particular (a periodic job)."""
    first = args[0] if isinstance(args, list) and args else None
    if task_name == task_names.MAKE_THUMBNAILS and isinstance(first, int):
        image = Image.objects.filter(pk=first).first()
        if image is None:
            return Subject(f"image {first} (deleted)")
        return Subject(f"image {first}: {image.original_name}", admin_url(image))
    if task_name == task_names.GENERATE_REPORT and isinstance(first, int):
        report = Report.objects.filter(pk=first).first()
        if report is None:
            return Subject(f"report {first} (deleted)")
        return Subject(
            f"report {first}: {title_of(report.kind)}", reverse("taskhub:report", args=[first])
        )
    if task_name == task_names.WELCOME and isinstance(first, str):
        model = get_user_model()
        user = model._default_manager.filter(**{model.USERNAME_FIELD: first}).first()
        return Subject(f"user {first}", admin_url(user) if user else "")
    to = first if first is not None else (kwargs or {}).get("to")
    if task_name == task_names.SEND_EMAIL and isinstance(to, str):
        return Subject(f"email to {to}")
    return None
