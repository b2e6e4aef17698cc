"""POST /api/reports/, GET /api/reports/<id>/, the pages and the download: owners only."""

import pytest
from django.urls import reverse

from taskhub.models import Report
from tests.orders import make_orders

pytestmark = pytest.mark.django_db
URL = reverse("taskhub:api-reports")
VALID = {"kind": "orders", "params": {"start": "2026-03-14", "end": "2026-03-14"}}


def post(client, body, content_type="application/json"):
    return client.post(URL, body, content_type=content_type)


def test_anonymous_users_get_401(client):
    assert post(client, VALID).status_code == 401


def test_a_valid_request_is_202_and_the_report_completes(
    user_client, django_capture_on_commit_callbacks, mailoutbox
):
    make_orders(42)
    with django_capture_on_commit_callbacks(execute=True):
        response = post(user_client, VALID)
    assert response.status_code == 202
    body = response.json()
    assert set(body) == {"id", "status_url"}
    status = user_client.get(body["status_url"]).json()
    assert status.pop("finished_at")
    assert status == {
        "id": body["id"],
        "kind": "orders",
        "title": "Orders",
        "cancelled_by": None,
        "status": "done",
        "progress": 100,
        "row_count": 42,
        "error": "",
        "download_url": reverse("taskhub:report-download", args=[body["id"]]),
    }
    download = user_client.get(status["download_url"])
    assert download.status_code == 200
    assert download["Content-Type"] == "text/csv"
    assert 'filename="orders-2026-03-14-2026-03-14.csv"' in download["Content-Disposition"]
    assert len(b"".join(download.streaming_content).splitlines()) == 43
    assert len(mailoutbox) == 1


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "the body must be a JSON object"),
        ('{"kind": "orders", "params": {}, "owner": 1}', "unknown fields: owner"),
        ('{"kind": "secret_stuff", "params": {}}', "Choose a kind of report"),
        ('{"kind": "orders", "params": {"start": "yesterday", "end": "2026-01-01"}}', "2026-01-31"),
        ('{"kind": "orders", "params": {"start": "1900-01-01", "end": "2026-01-01"}}', "shorter"),
        ('{"kind": "orders", "params": {"start": "2026-01-01", "end": "2026-01-01", "n": 1}}', "n"),
        ("\xff\xfe", "not valid JSON"),
        ("[" * 100_000 + "]" * 100_000, "not valid JSON: it is nested too deeply"),
        ('{"kind": "orders", "params": {"start": "9999-12-30", "end": "9999-12-31"}}', "range"),
    ],
)
def test_bad_requests_are_400_with_the_reason(user_client, body, reason):
    response = post(user_client, body)
    assert response.status_code == 400
    assert reason in response.json()["error"]
    assert not Report.objects.exists()


def test_another_users_report_is_404_and_staff_sees_it(client, user, other_user, staff_user):
    report = Report.objects.create(owner=user, kind="orders", params=VALID["params"])
    client.force_login(other_user)
    for name in ("taskhub:api-report", "taskhub:report", "taskhub:report-download"):
        assert client.get(reverse(name, args=[report.pk])).status_code == 404, name
    assert client.get(URL).json() == {"reports": []}
    client.force_login(staff_user)
    assert client.get(reverse("taskhub:api-report", args=[report.pk])).status_code == 200


def test_an_unfinished_report_has_no_download(user_client, user):
    report = Report.objects.create(owner=user, kind="orders", params=VALID["params"])
    assert (
        user_client.get(reverse("taskhub:api-report", args=[report.pk])).json()["download_url"]
        is None
    )
    assert user_client.get(reverse("taskhub:report-download", args=[report.pk])).status_code == 404


def test_the_report_pages(user_client, user):
    report = Report.objects.create(owner=user, kind="orders", params=VALID["params"])
    assert (
        b'role="progressbar"'
        in user_client.get(reverse("taskhub:report", args=[report.pk])).content
    )
    page = user_client.get(reverse("taskhub:reports")).content
    assert b"Sales by day" in page
    assert f'href="/reports/{report.pk}/"'.encode() in page
