from pathlib import Path

from celery import shared_task
from django.conf import settings


@shared_task
def ping(n: int) -> int:
    """The host's own task: records that it ran, one file per ``n``."""
    folder = Path(settings.SHOP_PINGS_DIR)
    folder.mkdir(exist_ok=True)
    (folder / str(n)).touch()
    return n
