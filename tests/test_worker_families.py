"""One end-to-end run per family through a real worker on the real Redis."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from taskhub.models import Image, Report, SentEmail, Thumbnail
from tests.image_files import image_bytes
from tests.orders import make_orders
from tests.workers import emails_sent, redis_client, running_worker
from tools.workers import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
ALL_QUEUES = "high,normal,low"


def test_a_signup_sends_exactly_one_email_even_when_the_task_is_delivered_twice(
    client, redis_broker, tmp_path
):
    response = client.post(
        reverse("demo:signup"),
        {
            "username": "barbara",
            "email": "barbara@example.com",
            "password1": "a long enough passphrase",
            "password2": "a long enough passphrase",
        },
    )
    assert response.status_code == 302
    broker = redis_client(redis_broker)
    [message] = broker.lrange("high", 0, -1)
    broker.lpush("high", message)  # the same message, delivered a second time
    with running_worker(ALL_QUEUES, redis_broker, tmp_path, concurrency=2) as worker:
        wait_for(lambda: worker.log().count("succeeded") >= 2, 30, "both deliveries")
    assert emails_sent(tmp_path) == 1
    assert SentEmail.objects.get(kind="welcome").status == "sent"


def test_an_uploaded_jpeg_gets_its_thumbnails(client, user, redis_broker, tmp_path):
    client.force_login(user)
    upload = SimpleUploadedFile("photo.jpg", image_bytes(2000, 1500))
    image_id = client.post(reverse("taskhub:api-images"), {"file": upload}).json()["id"]
    with running_worker(ALL_QUEUES, redis_broker, tmp_path):
        wait_for(
            lambda: Image.objects.get(pk=image_id).status in ("done", "failed"), 30, "thumbnails"
        )
    image = Image.objects.get(pk=image_id)
    assert (image.status, image.error, image.width, image.height) == ("done", "", 2000, 1500)
    assert Thumbnail.objects.filter(image=image).count() == 6
    assert all(t.file.storage.exists(t.file.name) for t in image.thumbnails.all())


def test_a_report_of_10000_rows_completes_with_its_row_count_and_progress(
    client, user, redis_broker, tmp_path
):
    make_orders(10_000)
    client.force_login(user)
    response = client.post(
        reverse("taskhub:api-reports"),
        {"kind": "orders", "params": {"start": "2026-03-14", "end": "2026-03-14"}},
        content_type="application/json",
    )
    report_id = response.json()["id"]
    with running_worker(ALL_QUEUES, redis_broker, tmp_path):
        wait_for(lambda: emails_sent(tmp_path) == 1, 60, "the report and its email")
    report = Report.objects.get(pk=report_id)
    assert (report.status, report.progress, report.row_count) == ("done", 100, 10_000)
    with report.file.open("rb") as f:
        assert sum(1 for _ in f) == 10_001
