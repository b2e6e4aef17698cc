"""Staff requeue, republish and cancel (taskhub.ops.operations), from the status page and the
admin: recorded, idempotent, refused with the reason when they no longer apply."""

import pytest
from django.db import OperationalError
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from taskhub import storage
from taskhub.actions import ActionRefused
from taskhub.models import (
    DeliveryCount,
    Image,
    OperatorAction,
    OutboxMessage,
    Report,
    TaskFailure,
    WorkStatus,
)
from taskhub.ops import failures, operations
from taskhub.reports import csv_writer, lifecycle
from taskhub.tasks import make_thumbnails
from tests.dead_letters import dead_letter
from tests.orders import DAY, make_orders
from tests.probe_tasks import effects, failing_host_task, record

pytestmark = pytest.mark.django_db


def dead_record(tmp_path, key: str = "k") -> DeliveryCount:
    return dead_letter(record.name, [str(tmp_path), key])


def test_a_dead_letter_is_requeued_once_with_its_arguments_and_recorded(
    tmp_path, staff_user, django_capture_on_commit_callbacks
):
    delivery = dead_record(tmp_path)
    with django_capture_on_commit_callbacks(execute=True):
        message = operations.requeue_dead_letter(delivery, staff_user)
    assert effects(tmp_path) == ["k"], "it ran (eager) with its original arguments"
    assert str(message.task_id) != delivery.task_id, "a new task id: a new delivery count"
    [action] = OperatorAction.objects.all()
    assert (action.verb, action.actor, action.target) == (
        "requeue",
        staff_user,
        f"dead letter probe.record[{delivery.task_id}]",
    )
    with pytest.raises(ActionRefused, match="already requeued by grace"):
        operations.requeue_dead_letter(delivery, staff_user)
    assert OutboxMessage.objects.count() == 1


def test_a_dead_lettered_django_task_goes_back_to_its_queue_with_its_limits(
    staff_user, settings, monkeypatch
):
    """Its run's message names only the result: the queue, priority, time and rate
    limits come from the result and the task's options, as for the first delivery."""
    from tests import api_tasks

    settings.CELERY_TASK_ALWAYS_EAGER = False
    monkeypatch.setattr("taskhub.tasks.run_django_task.apply_async", lambda *a, **kw: None)
    result = api_tasks.limited.using(priority=50).enqueue("again")
    delivery = dead_letter("taskhub.run_django_task", [result.id])
    message = operations.requeue_dead_letter(delivery, staff_user)
    assert message.options["queue"] == "normal"
    assert message.options["headers"] == {
        "taskhub_django_task": "tests.api_tasks.limited",
        "taskhub_rate_limit": "2/s",
    }


def test_a_task_that_was_not_dead_lettered_is_refused(tmp_path, staff_user):
    delivery = dead_record(tmp_path)
    DeliveryCount.objects.filter(pk=delivery.pk).update(dead_lettered_at=None)
    delivery.refresh_from_db()
    with pytest.raises(ActionRefused, match="is not dead-lettered"):
        operations.requeue_dead_letter(delivery, staff_user)


def failure(tmp_path, args: list) -> TaskFailure:
    return TaskFailure.objects.create(
        task_id="failed-1",
        task_name=record.name,
        args=args,
        exception="OSError",
        message="disk full",
    )


def test_a_failed_task_is_requeued_from_its_recorded_arguments(
    tmp_path, staff_user, django_capture_on_commit_callbacks
):
    result = failure(tmp_path, [str(tmp_path), "again"])
    with django_capture_on_commit_callbacks(execute=True):
        operations.requeue_failure(result, staff_user)
    assert effects(tmp_path) == ["again"]
    with pytest.raises(ActionRefused, match="already requeued"):
        operations.requeue_failure(result, staff_user)


def test_a_failure_whose_task_is_gone_is_refused_with_the_reason(tmp_path, staff_user):
    gone = failure(tmp_path, [])
    TaskFailure.objects.filter(pk=gone.pk).update(task_name="taskhub.renamed_since")
    gone.refresh_from_db()
    with pytest.raises(ActionRefused, match=r"No task named taskhub\.renamed_since is registered"):
        operations.requeue_failure(gone, staff_user)
    assert not OutboxMessage.objects.exists()


def test_a_failing_taskhub_task_is_recorded_whatever_the_result_backend(settings):
    """The worker records it (``task_failure``); eager mode that propagates raises to the
    caller instead, so it is turned off here, as on a worker."""
    settings.CELERY_TASK_EAGER_PROPAGATES = False
    settings.CELERY_RESULT_BACKEND = "redis://127.0.0.1:6379/15"
    assert make_thumbnails.delay(987654).failed()
    [failure] = TaskFailure.objects.all()
    assert (failure.task_name, failure.args, failure.exception) == (
        "taskhub.make_thumbnails",
        [987654],
        "LookupError",
    )
    assert failure.message == "image 987654 does not exist"
    assert "Traceback" in failure.traceback
    [listed] = failures.recent(5)
    assert listed.error == "LookupError: image 987654 does not exist"


def test_the_hosts_own_task_failures_are_not_taskhubs_to_record(settings):
    settings.CELERY_TASK_EAGER_PROPAGATES = False
    assert failing_host_task.delay().failed()
    assert not TaskFailure.objects.exists()


def test_a_database_down_loses_the_failure_record_not_the_worker(monkeypatch, caplog):
    def down(**kwargs):
        raise OperationalError("the database is down")

    monkeypatch.setattr(TaskFailure.objects, "update_or_create", down)
    failures.record(sender=make_thumbnails, task_id="t-1", exception=LookupError("gone"))
    assert "could not record the failure of taskhub.make_thumbnails[t-1]" in caplog.text


def test_a_stuck_message_is_republished_until_it_starts(tmp_path, staff_user):
    message = OutboxMessage.objects.create(task_name=record.name, args=[str(tmp_path), "s"])
    assert operations.republish(message, staff_user) is True
    assert effects(tmp_path) == ["s"]
    OutboxMessage.objects.filter(pk=message.pk).update(started_at=timezone.now())
    with pytest.raises(ActionRefused, match="has been started by a worker"):
        operations.republish(message, staff_user)


def test_a_queued_report_is_cancelled_and_never_made(user, django_capture_on_commit_callbacks):
    report = Report.objects.create(owner=user, kind="orders", params={"start": "2026-01-01",
                                   "end": "2026-01-02"})  # fmt: skip
    lifecycle.cancel_report(report, user)
    assert not lifecycle.claim(report), "a worker that gets it later skips it"
    report.refresh_from_db()
    assert report.status == WorkStatus.CANCELLED
    with pytest.raises(ActionRefused, match="is cancelled: it cannot be cancelled"):
        lifecycle.cancel_report(report, user)


def test_a_running_report_stops_at_its_next_progress_update_and_leaves_no_file(
    user, settings, monkeypatch
):
    make_orders(500)
    params = {"start": DAY.isoformat(), "end": DAY.isoformat()}
    report = Report.objects.create(owner=user, kind="orders", params=params)
    assert lifecycle.claim(report)
    real = csv_writer.write_csv

    def cancel_midway(header, rows, out, total, on_progress):
        def progress(done, total):
            if done > 200:
                lifecycle.cancel_report(report, user)
            on_progress(done, total)

        return real(header, rows, out, total, progress)

    monkeypatch.setattr(csv_writer, "write_csv", cancel_midway)
    with pytest.raises(lifecycle.ReportCancelled):
        lifecycle.generate(report)
    report.refresh_from_db()
    assert (report.status, report.file.name) == (WorkStatus.CANCELLED, "")
    folder = storage.private_root() / "reports" / str(report.pk)
    assert not folder.exists() or not any(folder.iterdir())


def test_the_owner_cancels_from_the_api_and_others_cannot(user_client, user, other_user):
    report = Report.objects.create(owner=user, kind="orders", params={"start": "2026-01-01",
                                   "end": "2026-01-02"})  # fmt: skip
    url = reverse("taskhub:api-report-cancel", args=[report.pk])
    other = Client()
    other.force_login(other_user)
    assert other.post(url).status_code == 404
    answer = user_client.post(url)
    assert answer.status_code == 200
    assert answer.json()["status"] == "cancelled"
    assert answer.json()["cancelled_by"] == "owner", "told who, without naming staff"
    again = user_client.post(url)
    assert again.status_code == 409
    assert "cannot be cancelled" in again.json()["error"]


def test_the_status_page_requeues_and_says_so(client, staff_user, tmp_path):
    delivery = dead_record(tmp_path)
    client.force_login(staff_user)
    url = reverse("taskhub:status-action", args=["requeue-dead", delivery.task_id])
    page = client.post(url, follow=True).content.decode()
    assert "Record is queued again." in page
    assert "requeued by grace" in page
    page = client.post(url, follow=True).content.decode()
    assert "This was already requeued by grace at" in page


def test_status_actions_are_for_staff_only(client, user, tmp_path):
    delivery = dead_record(tmp_path)
    client.force_login(user)
    url = reverse("taskhub:status-action", args=["requeue-dead", delivery.task_id])
    assert client.post(url).status_code == 403
    assert not OutboxMessage.objects.exists()


def test_outbox_and_dead_letters_are_read_only_in_the_admin(admin_client, tmp_path):
    delivery = dead_record(tmp_path)
    message = OutboxMessage.objects.create(task_name=record.name, args=[])
    for model, pk in (("deliverycount", delivery.pk), ("outboxmessage", message.pk)):
        page = admin_client.get(reverse(f"admin:taskhub_{model}_change", args=[pk]))
        assert page.status_code == 200
        assert '<input type="text" name="task_name"' not in page.content.decode()
        assert (
            admin_client.post(
                reverse(f"admin:taskhub_{model}_change", args=[pk]), {"task_name": "x"}
            ).status_code
            == 403
        )


def test_the_admin_requeues_a_dead_letter_through_its_action(
    admin_client, tmp_path, django_capture_on_commit_callbacks
):
    delivery = dead_record(tmp_path)
    url = reverse("admin:taskhub_deliverycount_changelist")
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(url, {"action": "requeue", "_selected_action": [delivery.pk]})
    assert effects(tmp_path) == ["k"]
    assert OperatorAction.objects.get().actor.username == "admin"


def test_the_status_page_names_a_failure_in_words_and_shows_a_requeue_that_failed_again(
    client, staff_user, user, settings, django_capture_on_commit_callbacks
):
    """Requeueing work that always fails used to add a second identical row."""
    settings.CELERY_TASK_EAGER_PROPAGATES = False
    image = Image.objects.create(owner=user, original="images/originals/x.jpg",
                                 original_name="cat.jpg")  # fmt: skip
    assert make_thumbnails.delay(image.pk).failed()  # its original is missing
    [first] = TaskFailure.objects.all()
    client.force_login(staff_user)
    page = client.get(reverse("taskhub:status")).content.decode()
    admin_link = reverse("admin:taskhub_image_change", args=[image.pk])
    assert (
        f'<strong>Thumbnails</strong>: <a href="{admin_link}">image {image.pk}: cat.jpg</a>' in page
    )
    url = reverse("taskhub:status-action", args=["requeue-failed", first.task_id])
    Image.objects.filter(pk=image.pk).update(status="pending")
    with django_capture_on_commit_callbacks(execute=True):
        page = client.post(url, follow=True).content.decode()
    assert f"Thumbnails (image {image.pk}: cat.jpg) is queued again." in page
    assert TaskFailure.objects.count() == 2, "the requeued run failed too"
    page = client.get(reverse("taskhub:status")).content.decode()
    assert page.count("<strong>Thumbnails</strong>") == 1, "one row for both runs"
    assert "failed again" in page and "after a requeue by grace" in page
