"""The hourly and nightly purges delete what is old, and only that."""

import os
from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.utils import timezone
from django_celery_results.models import TaskResult

from taskhub.models import DjangoTaskResult, Image, Report, Thumbnail
from taskhub.ops import retention
from taskhub.tasks import purge_expired_files, purge_task_results

pytestmark = pytest.mark.django_db


def test_old_task_results_are_purged_and_recent_ones_kept(settings):
    settings.TASKHUB_RESULT_RETENTION_DAYS = 30
    old = TaskResult.objects.create(task_id="old", status="SUCCESS")
    TaskResult.objects.filter(pk=old.pk).update(date_done=timezone.now() - timedelta(days=31))
    TaskResult.objects.create(task_id="new", status="SUCCESS")
    assert purge_task_results.delay().get() == 1
    assert list(TaskResult.objects.values_list("task_id", flat=True)) == ["new"]


def test_old_finished_django_task_results_are_purged_and_running_ones_kept(settings):
    settings.TASKHUB_RESULT_RETENTION_DAYS = 30
    long_ago = timezone.now() - timedelta(days=31)
    for pk, status, finished_at in [
        ("old", "SUCCESSFUL", long_ago),
        ("new", "FAILED", timezone.now()),
        ("running", "RUNNING", None),
    ]:
        DjangoTaskResult.objects.create(
            id=pk, task_path="tests.api_tasks.add", backend="default", queue_name="normal",
            status=status, enqueued_at=long_ago, finished_at=finished_at,
        )  # fmt: skip
    assert purge_task_results.delay().get() == 1
    assert sorted(DjangoTaskResult.objects.values_list("id", flat=True)) == ["new", "running"]


def old_report(user, days: int) -> Report:
    report = Report.objects.create(owner=user, kind="orders", status="done")
    report.file.save(f"r{report.pk}.csv", ContentFile(b"a,b\n"))
    Report.objects.filter(pk=report.pk).update(finished_at=timezone.now() - timedelta(days=days))
    return report


def test_expired_report_files_and_deleted_images_are_purged(user, settings):
    settings.TASKHUB_FILE_RETENTION_DAYS = 7
    expired, recent = old_report(user, 8), old_report(user, 1)
    gone = Image.objects.create(owner=user, deleted_at=timezone.now() - timedelta(days=8))
    gone.original.save("gone.jpg", ContentFile(b"x"))
    thumb = Thumbnail(image=gone, size=128, format="jpeg", width=1, height=1)
    thumb.file.save("gone-128.jpg", ContentFile(b"x"))
    kept = Image.objects.create(owner=user, deleted_at=timezone.now() - timedelta(days=1))
    paths = {"expired": expired.file.path, "thumb": thumb.file.path, "gone": gone.original.path}

    assert purge_expired_files.delay().get() == {"report_files": 1, "images": 1}

    expired.refresh_from_db()
    assert expired.file.name == ""
    assert Report.objects.filter(pk=expired.pk).exists(), "the row is history; only the file goes"
    recent.refresh_from_db()
    assert recent.file.storage.exists(recent.file.name)
    assert list(Image.objects.all()) == [kept]
    assert not any(os.path.exists(path) for path in paths.values())


def test_nothing_to_purge_is_fine(db):
    assert retention.purge_expired_files(7) == {"report_files": 0, "images": 0}
    assert retention.purge_task_results(30) == 0
