"""Django tasks enqueued outside a transaction and never started, handed to the outbox.

Outside a transaction ``CeleryBackend`` commits the result row and publishes at once, as
``.delay()`` does. If its process dies between the two, or Redis loses the message as it
restarts, the row stays READY: before each relay (``outbox.relay_starting``, connected
in ``taskhub.apps``) such rows are handed to the outbox, which publishes them and
publishes again until a worker starts them.
"""

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from taskhub import conf, task_names
from taskhub.delivery import outbox
from taskhub.delivery.django_tasks import resend_options
from taskhub.models import DjangoTaskResult, OutboxMessage

BACKEND = "taskhub.backends.CeleryBackend"
#: Django's own READY status, spelled out: the Tasks API itself is optional here.
READY = "READY"


def uses_celery_backend() -> bool:
    backends = getattr(settings, "TASKS", {}).values()
    return any(backend.get("BACKEND") == BACKEND for backend in backends)


def send_unstarted(older_than: timedelta, limit: int = 1000) -> int:
    """Hand the outbox each result still READY ``older_than`` after it was enqueued (and
    after its ``run_after``) that no outbox message covers. Returns how many."""
    cutoff = timezone.now() - older_than
    stale = list(
        DjangoTaskResult.objects.filter(status=READY, enqueued_at__lt=cutoff)
        .filter(Q(run_after__isnull=True) | Q(run_after__lt=cutoff))
        .order_by("enqueued_at")[:limit]
    )
    covered = {
        str(task_id)
        for task_id in OutboxMessage.objects.filter(
            task_id__in=[record.id for record in stale]
        ).values_list("task_id", flat=True)
    }
    resent = [record for record in stale if record.id not in covered]
    for record in resent:
        options = resend_options(record.queue_name, record.priority, record.task_path)
        outbox.enqueue_with_options(
            task_names.RUN_DJANGO_TASK, [record.id], {}, task_id=record.id, **options
        )
    return len(resent)


def before_relay(**kwargs: Any) -> dict[str, int]:
    """``outbox.relay_starting`` receiver: with ``CeleryBackend`` in ``TASKS``, the
    results no worker started within ``OUTBOX_REDELIVER_AFTER``."""
    resent = 0
    if uses_celery_backend():
        resent = send_unstarted(timedelta(seconds=conf.get("OUTBOX_REDELIVER_AFTER")))
    return {"django_tasks_resent": resent}
