"""The thumbnail task."""

from typing import Any

from celery import shared_task

from taskhub import task_names
from taskhub.delivery.base import DatabaseTask
from taskhub.images import thumbnails
from taskhub.models import Image


@shared_task(base=DatabaseTask, name=task_names.MAKE_THUMBNAILS, family="thumbnails")
def make_thumbnails(image_id: int) -> dict[str, Any]:
    image = Image.objects.filter(pk=image_id, deleted_at__isnull=True).first()
    if image is None:
        raise LookupError(f"image {image_id} does not exist")
    image = thumbnails.make_thumbnails(image)
    return {"image": image.pk, "status": image.status, "thumbnails": image.thumbnails.count()}
