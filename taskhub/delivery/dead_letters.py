"""Service: count redeliveries of a task and say when it is time to dead-letter it."""

from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from taskhub.models import DeliveryCount


def record_redelivery(
    task_id: str, task_name: str, args: Any, kwargs: Any, max_deliveries: int
) -> int | None:
    """Count one more delivery of ``task_id``; the count if it is now over the limit.

    The first delivery was not recorded (it was not marked redelivered), so the first
    redelivery counts as the second delivery.
    """
    with transaction.atomic():
        row, created = DeliveryCount.objects.get_or_create(
            task_id=task_id,
            defaults={
                "task_name": task_name,
                "deliveries": 2,
                "args": list(args),
                "kwargs": dict(kwargs),
            },
        )
        if not created:
            DeliveryCount.objects.filter(pk=row.pk).update(deliveries=F("deliveries") + 1)
            row.refresh_from_db(fields=["deliveries"])
        if row.deliveries <= max_deliveries:
            return None
        DeliveryCount.objects.filter(pk=row.pk).update(dead_lettered_at=timezone.now())
        return row.deliveries
