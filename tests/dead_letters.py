"""A dead-lettered task, as ``TaskhubTask`` leaves one after too many deliveries."""

from django.utils import timezone

from taskhub.models import DeliveryCount


def dead_letter(task_name: str, args: list, task_id: str = "dead-1") -> DeliveryCount:
    return DeliveryCount.objects.create(
        task_id=task_id,
        task_name=task_name,
        deliveries=4,
        args=args,
        kwargs={},
        dead_lettered_at=timezone.now(),
    )
