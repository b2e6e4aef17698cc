"""What hosts import stays where the documentation and the changelog say it is: moving a
module cannot silently break a host. The names are read from the Python blocks and
settings of the README and of every page under ``docs/``, so a new example there is held
to the same promise."""

import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = "\n".join(
    path.read_text() for path in [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
)

#: The names the floor-plan issue promised to keep, whatever the pages show today.
PROMISED = [
    "taskhub.celery.configure",
    "taskhub.tasks.welcome",
    "taskhub.tasks.send_email",
    "taskhub.tasks.make_thumbnails",
    "taskhub.tasks.generate_report",
    "taskhub.tasks.send_daily_reports",
    "taskhub.tasks.relay_outbox",
    "taskhub.tasks.purge_task_results",
    "taskhub.tasks.purge_expired_files",
    "taskhub.tasks.run_django_task",
    "taskhub.tasks.TaskhubTask",
    "taskhub.backends.CeleryBackend",
    "taskhub.reports.register",
    "taskhub.reports.ReportKind",
    "taskhub.reports.SQL",
    "taskhub.reports.date_range",
    "taskhub.middleware.PublishAfterResponseMiddleware",
    "taskhub.outbox.enqueue",
    "taskhub.fanout.send_many",
    "taskhub.django_tasks.welcome",
    "taskhub.worker.log.use_django_logging",
    "taskhub.urls.urlpatterns",
    "taskhub.api_urls.urlpatterns",
]


def resolve(dotted: str) -> object:
    """The object a dotted path names: the longest importable module, then attributes."""
    parts = dotted.split(".")
    for split in range(len(parts), 0, -1):
        try:
            found = importlib.import_module(".".join(parts[:split]))
        except ModuleNotFoundError:
            continue
        for attribute in parts[split:]:
            found = getattr(found, attribute)
        return found
    raise ModuleNotFoundError(dotted)


def documented_names() -> set[str]:
    """Every ``from taskhub... import x`` and ``"taskhub.x.Y"`` in the pages' code."""
    code = "\n".join(re.findall(r"```(?:python|py)\n(.*?)```", PAGES, re.S))
    found = set()
    for module, imported in re.findall(r"^\s*from (taskhub[\w.]*) import ([\w, ]+)", code, re.M):
        found |= {f"{module}.{name.strip()}" for name in imported.split(",")}
    found |= set(re.findall(r"^\s*import (taskhub[\w.]*)", code, re.M))
    found |= set(re.findall(r"\"(taskhub\.[\w.]+\.[A-Z]\w+)\"", code))
    found |= set(re.findall(r"\b(taskhub\.celery\.configure)\(", code))
    return found


def test_the_pages_show_the_names_hosts_use():
    """Guards the parser below: if it found nothing, the test would pass on nothing."""
    assert {
        "taskhub.celery",
        "taskhub.celery.configure",
        "taskhub.tasks.welcome",
        "taskhub.outbox",
        "taskhub.reports",
        "taskhub.fanout",
    } <= documented_names()


@pytest.mark.parametrize("dotted", sorted(set(PROMISED) | documented_names()))
def test_a_public_name_imports_from_where_the_pages_say(dotted):
    assert resolve(dotted) is not None


def test_the_public_names_are_the_objects_their_wings_define():
    """A re-export is the same object, not a copy that could drift."""
    from taskhub.delivery import outbox
    from taskhub.emails import tasks as email_tasks
    from taskhub.tasks_api import backend

    assert resolve("taskhub.tasks.welcome") is email_tasks.welcome
    assert resolve("taskhub.backends.CeleryBackend") is backend.CeleryBackend
    assert resolve("taskhub.outbox.enqueue") is outbox.enqueue
