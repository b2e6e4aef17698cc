"""Staff requeue a failed Django task and cancel a queued or running one, from the status
page and the admin (``taskhub.ops.operations``): recorded, once, refused with the reason."""

import pytest
from django.urls import reverse

from taskhub.models import DjangoTaskResult, OperatorAction
from taskhub.ops import operations
from taskhub.tasks_api import results
from taskhub.tasks_api.compat import TaskResultStatus, task_finished
from tests import api_tasks
from tests.workers import running_worker
from tools.workers import wait_for

pytestmark = pytest.mark.django_db


def row(result) -> DjangoTaskResult:
    return DjangoTaskResult.objects.get(pk=result.id)


def test_the_status_page_requeues_a_failed_django_task_as_a_new_result_once(
    client, staff_user, tmp_path, django_capture_on_commit_callbacks
):
    failed = api_tasks.flaky.enqueue(str(tmp_path), 4)  # fails 4 attempts: all it has
    assert failed.status == TaskResultStatus.FAILED
    client.force_login(staff_user)
    url = reverse("taskhub:status-action", args=["requeue-django-task", failed.id])
    with django_capture_on_commit_callbacks(execute=True):
        page = client.post(url, follow=True).content.decode()
    assert "Flaky is queued again." in page
    again = DjangoTaskResult.objects.exclude(pk=failed.id).get()
    assert (again.task_path, again.args, again.status) == (
        "tests.api_tasks.flaky", [str(tmp_path), 4], TaskResultStatus.SUCCESSFUL,
    )  # fmt: skip
    assert again.return_value == 5, "the fifth attempt, the first of the new result"
    assert row(failed).status == TaskResultStatus.FAILED, "the failed result stays"
    page = client.post(url, follow=True).content.decode()
    assert "This was already requeued by grace at" in page
    assert OperatorAction.objects.get().actor == staff_user


def test_only_a_failed_django_task_is_requeued():
    done = api_tasks.add.enqueue(1, 2)
    with pytest.raises(
        operations.ActionRefused,
        match="Only a failed task can be requeued; this one is successful",
    ):
        operations.requeue_django_task(row(done), None)


def test_a_cancelled_django_task_fails_with_who_and_when_and_never_runs(
    settings, staff_user, django_capture_on_commit_callbacks
):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    with django_capture_on_commit_callbacks(execute=False):
        from django.db import transaction

        with transaction.atomic():
            queued = api_tasks.add.enqueue(1, 2)  # its message waits for a commit never run
    operations.cancel_django_task(row(queued), staff_user)
    queued.refresh()
    assert queued.status == TaskResultStatus.FAILED
    [error] = queued.errors
    assert error.exception_class is operations.Cancelled
    assert error.traceback.startswith(f"Cancelled by {staff_user.get_username()} at ")
    assert results.run(queued.id, "late-worker") == TaskResultStatus.FAILED
    assert row(queued).worker_ids == [], "a worker that gets it anyway does not run it"
    with pytest.raises(
        operations.ActionRefused, match="This task has finished: it cannot be cancelled"
    ):
        operations.cancel_django_task(row(queued), staff_user)


def test_a_run_that_goes_on_after_its_cancel_cannot_finish_it():
    seen = []
    task_finished.connect(receiver := lambda sender, task_result, **kw: seen.append(task_result))
    try:
        result = api_tasks.cancelled_while_running.enqueue()
    finally:
        task_finished.disconnect(receiver)
    assert result.status == TaskResultStatus.FAILED
    assert result.errors[0].exception_class is operations.Cancelled
    assert seen == [], "no task_finished for the run that was cancelled under it"


def test_the_admin_cancels_and_requeues_through_its_actions(admin_client, settings):
    failed = api_tasks.fail.enqueue("bad input")
    url = reverse("admin:taskhub_djangotaskresult_changelist")
    admin_client.post(url, {"action": "requeue", "_selected_action": [failed.id]})
    assert DjangoTaskResult.objects.count() == 2
    page = admin_client.post(
        url, {"action": "cancel", "_selected_action": [failed.id]}, follow=True
    ).content.decode()
    assert "Refused:" in page and "it cannot be cancelled" in page
    assert list(OperatorAction.objects.values_list("verb", flat=True)) == ["requeue"]


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_a_running_django_task_is_stopped_by_its_cancel(redis_broker, tmp_path, staff_user):
    sleeping = api_tasks.sleep_for.enqueue(30)
    with running_worker("normal", redis_broker, tmp_path, concurrency=1):

        def running() -> bool:
            sleeping.refresh()
            return sleeping.status == TaskResultStatus.RUNNING

        wait_for(running, 30, "the task to start")
        operations.cancel_django_task(row(sleeping), staff_user)
        quick = api_tasks.add.enqueue(2, 2)

        def ran() -> bool:
            quick.refresh()
            return quick.is_finished

        wait_for(ran, 20, "the worker's only slot to be free again for the next task")
    sleeping.refresh()
    assert sleeping.status == TaskResultStatus.FAILED
    assert sleeping.errors[0].exception_class is operations.Cancelled
    assert quick.return_value == 4
