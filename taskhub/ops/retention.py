"""Service: delete what has been kept long enough (old results, expired files)."""

from datetime import timedelta

from django.utils import timezone
from django_celery_results.models import GroupResult, TaskResult

from taskhub.models import (
    DeliveryCount,
    DjangoTaskResult,
    Image,
    OutboxMessage,
    Report,
    TaskFailure,
)


def purge_task_results(days: int) -> int:
    """Delete task and group results, finished Django Tasks results, published outbox
    messages, delivery counts and recorded failures older than ``days``; return how
    many rows went."""
    cutoff = timezone.now() - timedelta(days=days)
    querysets = [
        TaskResult.objects.filter(date_done__lt=cutoff),
        GroupResult.objects.filter(date_done__lt=cutoff),
        DjangoTaskResult.objects.filter(finished_at__lt=cutoff),
        OutboxMessage.objects.filter(published_at__lt=cutoff),
        DeliveryCount.objects.filter(updated_at__lt=cutoff),
        TaskFailure.objects.filter(failed_at__lt=cutoff),
    ]
    return sum(queryset.delete()[0] for queryset in querysets)


def purge_expired_files(days: int) -> dict[str, int]:
    """Delete report files, and deleted images with their thumbnails, older than ``days``.

    A report keeps its row (who asked, when, how many rows) and loses its file; a
    deleted image goes entirely. Storage is deleted before rows, so a crash in between
    leaves a row to retry, never an orphan file.
    """
    cutoff = timezone.now() - timedelta(days=days)
    reports = 0
    for report in Report.objects.filter(finished_at__lt=cutoff).exclude(file=""):
        report.file.delete(save=False)
        report.save(update_fields=["file"])
        reports += 1
    images = 0
    for image in Image.objects.filter(deleted_at__lt=cutoff).prefetch_related("thumbnails"):
        for thumbnail in image.thumbnails.all():
            thumbnail.file.delete(save=False)
        image.original.delete(save=False)
        image.delete()
        images += 1
    return {"report_files": reports, "images": images}
