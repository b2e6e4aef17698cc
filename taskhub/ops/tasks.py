"""The nightly purges: old results and records, and expired files."""

from celery import shared_task

from taskhub import conf, task_names
from taskhub.delivery.base import TaskhubTask
from taskhub.ops import retention


@shared_task(base=TaskhubTask, name=task_names.PURGE_TASK_RESULTS)
def purge_task_results() -> int:
    return retention.purge_task_results(conf.get("RESULT_RETENTION_DAYS"))


@shared_task(base=TaskhubTask, name=task_names.PURGE_EXPIRED_FILES)
def purge_expired_files() -> dict[str, int]:
    return retention.purge_expired_files(conf.get("FILE_RETENTION_DAYS"))
