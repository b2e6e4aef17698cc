"""The report service, the report task and the periodic jobs around them."""

import csv
import io
import re
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from taskhub import conf, reports
from taskhub.models import OutboxMessage, Report, WorkStatus
from taskhub.reports import csv_writer, lifecycle, registry
from taskhub.tasks import generate_report, send_daily_reports
from tests.orders import DAY, at, make_orders

pytestmark = pytest.mark.django_db


def read_csv(report: Report) -> list[list[str]]:
    with report.file.open("rb") as f:
        return list(csv.reader(io.StringIO(f.read().decode())))


def report_of(kind: str, owner=None, start: date = DAY, end: date = DAY) -> Report:
    return Report.objects.create(
        owner=owner, kind=kind, params={"start": str(start), "end": str(end)}
    )


@pytest.mark.parametrize(
    ("kind", "params", "reason", "field"),
    [
        ("nope", {}, "Choose a kind of report: Orders, Sales by day, Sign-ups.", "kind"),
        (None, {}, "Choose a kind of report:", "kind"),
        ("orders", [], "Give the report's dates as a start and an end.", "params"),
        ("orders", {"start": "2026-01-01"}, "Choose the end date.", "params.end"),
        ("orders", {"start": "2026-13-01", "end": "2026-01-01"}, "like 2026-01-31", "params.start"),
        ("orders", {"start": 20260101, "end": "2026-01-01"}, "like 2026-01-31", "params.start"),
        ("orders", {"start": 1e308, "end": "2026-01-01"}, "like 2026-01-31", "params.start"),
        ("orders", {"start": "2026-02-01", "end": "2026-01-01"}, "before the start", "params.end"),
        ("orders", {"start": "1990-01-01", "end": "2026-01-01"}, "choose a shorter", "params"),
        ("orders", {"start": "2026-01-01", "end": "2026-01-02", "x": 1}, "takes no x.", "params"),
        ("orders", {"start": "9999-12-30", "end": "9999-12-31"}, "out of range", "params.end"),
    ],
)  # fmt: skip
def test_bad_kinds_and_params_are_refused_in_words_with_the_field(
    kind, params, reason, field, user
):
    with pytest.raises(reports.ReportParamsError, match=re.escape(reason)) as refused:
        lifecycle.request_report(user, kind, params)
    assert refused.value.field == field
    assert not Report.objects.exists() and not OutboxMessage.objects.exists()


def test_a_request_saves_the_cleaned_params_and_queues_the_report_with_it(
    user, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        report = lifecycle.request_report(user, "orders", {"start": "2026-03-04", "end": str(DAY)})
    assert (report.owner, report.status) == (user, WorkStatus.PENDING)
    assert report.params == {"start": "2026-03-04", "end": str(DAY)}
    [message] = OutboxMessage.objects.all()
    assert (message.task_name, message.args) == ("taskhub.generate_report", [report.pk])


@pytest.fixture
def kind_of_host(user):
    """A host's kind whose own ``validate`` refuses with a ValueError, and whose rows
    fail with one while the report is made."""

    def refuse_odd(params):
        if params.get("n", 0) % 2:
            raise ValueError("n must be even")
        return params

    def rows(params):
        raise ValueError("the warehouse database is read-only today")

    kind = reports.register(reports.ReportKind("test_host", "Host", ("n",), rows, refuse_odd))
    yield kind
    registry._registry.pop(kind.name)


def test_a_host_kinds_own_refusal_is_a_report_params_error(kind_of_host, user):
    with pytest.raises(reports.ReportParamsError, match="n must be even"):
        lifecycle.request_report(user, kind_of_host.name, {"n": 3})


def test_a_value_error_while_the_report_is_made_is_its_failure_not_a_refusal(
    kind_of_host, user, django_capture_on_commit_callbacks
):
    """In eager mode the report runs at commit, inside the request: its failure is the
    report's (recorded, raised), never mistaken for a refused request."""
    with (
        pytest.raises(ValueError, match="read-only today") as raised,
        django_capture_on_commit_callbacks(execute=True),
    ):
        lifecycle.request_report(user, kind_of_host.name, {"n": 2})
    assert not isinstance(raised.value, reports.ReportParamsError)
    report = Report.objects.get()
    assert (report.status, report.error) == (
        WorkStatus.FAILED,
        lifecycle.FAILED_ON_OUR_SIDE,
    )


def test_the_orders_export_streams_every_row_in_the_range():
    make_orders(3, DAY - timedelta(days=1))
    make_orders(250)
    make_orders(3, DAY + timedelta(days=1))
    report = report_of("orders")
    assert lifecycle.claim(report)
    lifecycle.generate(report)
    report.refresh_from_db()
    assert (report.status, report.progress, report.row_count) == ("done", 100, 250)
    rows = read_csv(report)
    assert rows[0] == ["number", "created_at", "customer", "email", "amount"]
    assert len(rows) == 251
    assert rows[1][0] == "N20260314-000000"
    assert rows[1][4] == "9.99"
    assert report.finished_at is not None


def test_progress_is_written_a_bounded_number_of_times(monkeypatch):
    make_orders(10_000)
    updates = []
    real = csv_writer.write_csv

    def spy(header, rows, out, total, on_progress):
        return real(header, rows, out, total, lambda d, t: updates.append(d) or on_progress(d, t))

    monkeypatch.setattr(csv_writer, "write_csv", spy)
    report = report_of("orders")
    lifecycle.claim(report)
    lifecycle.generate(report)
    assert len(updates) == csv_writer.PROGRESS_UPDATES
    assert updates == sorted(updates)


def test_spreadsheet_formulas_are_neutralised_but_numbers_are_not():
    make_orders(1, name='=HYPERLINK("http://evil")', amount="-5.00")
    make_orders(1, DAY + timedelta(days=1), name="@SUM(A1)")
    report = report_of("orders", end=DAY + timedelta(days=1))
    lifecycle.claim(report)
    lifecycle.generate(report)
    rows = read_csv(report)
    assert rows[1][2] == '\'=HYPERLINK("http://evil")'
    assert rows[1][4] == "-5.00"
    assert rows[2][2] == "'@SUM(A1)"


@pytest.mark.parametrize("value", ["=1+1", "+1", "-1", "@x", "\tx", "\rx"])
def test_every_formula_prefix_is_neutralised(value):
    assert csv_writer.cell(value) == "'" + value
    assert csv_writer.cell("plain") == "plain"
    assert csv_writer.cell(-1) == -1
    assert csv_writer.cell(Decimal("-1.5")) == "-1.50"


def test_sales_by_day_adds_up_each_day():
    make_orders(4, amount="2.50")
    make_orders(2, DAY + timedelta(days=1), amount="10.00")
    report = report_of("sales_by_day", end=DAY + timedelta(days=1))
    lifecycle.claim(report)
    lifecycle.generate(report)
    assert read_csv(report) == [
        ["day", "orders", "revenue"],
        ["2026-03-14", "4", "10.00"],
        ["2026-03-15", "2", "20.00"],
    ]


def test_signups_lists_users_who_joined_in_the_range(django_user_model):
    django_user_model.objects.create_user("in", "in@example.com", date_joined=at(DAY))
    django_user_model.objects.create_user(
        "out", "o@example.com", date_joined=at(DAY, 0) - timedelta(seconds=1)
    )
    report = report_of("signups")
    lifecycle.claim(report)
    lifecycle.generate(report)
    assert [row[0] for row in read_csv(report)] == ["username", "in"]


def test_a_rerun_starts_the_file_over_instead_of_appending():
    make_orders(10)
    report = report_of("orders")
    lifecycle.claim(report)
    lifecycle.generate(report)
    first = read_csv(report)
    Report.objects.filter(pk=report.pk).update(status=WorkStatus.FAILED)
    assert lifecycle.claim(report)
    lifecycle.generate(Report.objects.get(pk=report.pk))
    report.refresh_from_db()
    assert read_csv(report) == first
    _, files = report.file.storage.listdir(f"reports/{report.pk}")
    assert files == [f"orders-{report.pk}.csv"]


def test_a_failure_is_recorded_with_its_reason():
    report = Report.objects.create(kind="orders", params={"start": "garbage", "end": "x"})
    lifecycle.claim(report)
    with pytest.raises(reports.ReportParamsError):
        lifecycle.generate(report)
    report.refresh_from_db()
    assert report.status == "failed"
    assert report.error == "The start date must be a date written like 2026-01-31."


def test_only_one_of_two_concurrent_runs_claims_a_report():
    report = report_of("orders")
    assert lifecycle.claim(report) is True
    assert lifecycle.claim(report) is False


def test_a_redelivery_takes_over_a_running_report_at_once():
    report = report_of("orders")
    assert lifecycle.claim(report) is True
    assert lifecycle.claim(report) is False, "a second delivery of a live run"
    assert lifecycle.claim(report, takeover=True) is True, "the broker redelivered it"
    report.status = "done"
    report.save()
    assert lifecycle.claim(report, takeover=True) is False, "a done report is not made again"


@pytest.mark.parametrize(("redelivered", "status"), [(False, "running"), (True, "done")])
def test_generate_report_takes_over_a_running_report_only_when_redelivered(redelivered, status):
    make_orders(3)
    report = report_of("orders")
    lifecycle.claim(report)
    generate_report.push_request(id="r-1", delivery_info={"redelivered": redelivered})
    try:
        generate_report.run(report.pk)
    finally:
        generate_report.pop_request()
    report.refresh_from_db()
    assert report.status == status


def test_a_run_abandoned_by_a_dead_worker_can_be_claimed_again():
    report = report_of("orders")
    lifecycle.claim(report)
    stale = timezone.now() - timedelta(seconds=conf.time_limit("reports").hard + 1)
    Report.objects.filter(pk=report.pk).update(started_at=stale)
    assert lifecycle.claim(report) is True


def test_the_task_emails_the_requester_a_link_when_done(
    user, mailoutbox, settings, django_capture_on_commit_callbacks
):
    settings.TASKHUB_SITE_URL = "https://taskhub.example.com"
    make_orders(5)
    report = report_of("orders", owner=user)
    with django_capture_on_commit_callbacks(execute=True):
        assert generate_report.delay(report.pk).get() == {
            "report": report.pk,
            "status": "done",
            "rows": 5,
        }
    [message] = mailoutbox
    assert message.to == [user.email]
    assert f"https://taskhub.example.com/reports/{report.pk}/download/" in message.body


def test_a_second_delivery_of_a_finished_report_does_nothing(
    user, mailoutbox, django_capture_on_commit_callbacks
):
    report = report_of("orders", owner=user)
    with django_capture_on_commit_callbacks(execute=True):
        generate_report.delay(report.pk)
        again = generate_report.delay(report.pk).get()
    assert again == {"report": report.pk, "status": "done", "skipped": True}
    assert len(mailoutbox) == 1


def test_the_task_fails_fast_for_a_report_that_does_not_exist():
    with pytest.raises(LookupError, match="report 404 does not exist"):
        generate_report.delay(404)


def test_the_nightly_report_is_made_and_emailed_once(
    settings, mailoutbox, django_capture_on_commit_callbacks
):
    settings.TASKHUB_DAILY_REPORT_RECIPIENTS = ["boss@example.com", "cfo@example.com"]
    make_orders(3)
    with django_capture_on_commit_callbacks(execute=True):
        first = send_daily_reports.delay(str(DAY)).get()
        second = send_daily_reports.delay(str(DAY)).get()
    assert first["made"] == {"sales_by_day": True}
    assert second == {**first, "made": {"sales_by_day": False}}
    report = Report.objects.get(dedupe_key=f"daily:sales_by_day:{DAY}")
    assert report.row_count == 1
    assert sorted(m.to[0] for m in mailoutbox) == ["boss@example.com", "cfo@example.com"]


def test_the_nightly_report_defaults_to_yesterday_in_the_project_time_zone(settings):
    settings.TIME_ZONE = "Pacific/Auckland"
    yesterday = timezone.localdate() - timedelta(days=1)
    assert send_daily_reports.delay().get()["day"] == str(yesterday)


def test_the_ready_email_is_queued_with_the_done_report_or_not_at_all(user, monkeypatch):
    """The email follows from the report being done: both commit, or neither does."""
    from taskhub.models import OutboxMessage

    def broken_storage_save(*args, **kwargs):
        raise OSError("disk full")

    report = report_of("orders", owner=user)
    monkeypatch.setattr(Report.file.field.storage, "save", broken_storage_save)
    with pytest.raises(OSError, match="disk full"):
        generate_report.delay(report.pk)
    report.refresh_from_db()
    assert report.status == "failed"
    assert not OutboxMessage.objects.exists()


def test_a_host_registers_a_report_kind_from_raw_sql(user):
    kind = reports.register(
        reports.ReportKind(
            name="test_numbers",
            title="Numbers",
            columns=("n", "label"),
            rows=lambda params: reports.SQL(
                "SELECT 1 AS n, %s AS label UNION ALL SELECT 2, '=cmd'", [params["start"]]
            ),
        )
    )
    try:
        report = report_of(kind.name, owner=user)
        assert lifecycle.claim(report)
        lifecycle.generate(report)
        assert read_csv(report) == [["n", "label"], ["1", str(DAY)], ["2", "'=cmd"]]
        assert report.row_count == 2
    finally:
        registry._registry.pop(kind.name)


@pytest.mark.django_db(transaction=True)
def test_on_sqlite_progress_is_written_while_other_connections_commit(settings, monkeypatch):
    """A worker commits (a result, an email) while a report streams: in WAL mode a read
    begun before that commit could not write its progress any more."""
    import sqlite3

    from django.db import connection

    if connection.vendor != "sqlite":
        pytest.skip("SQLite's WAL snapshots only")
    make_orders(12_000)
    report = report_of("orders")
    assert lifecycle.claim(report)
    other = sqlite3.connect(settings.DATABASES["default"]["NAME"], timeout=20)
    real = csv_writer.write_csv
    progress: list[int] = []

    def with_commits_elsewhere(header, rows, out, total, on_progress):
        def progress_after_a_commit(done, total):
            with other:
                other.execute("UPDATE demo_order SET customer_name = 'Ada' WHERE id = 1")
            on_progress(done, total)
            progress.append(Report.objects.get(pk=report.pk).progress)

        return real(header, rows, out, total, progress_after_a_commit)

    monkeypatch.setattr(csv_writer, "write_csv", with_commits_elsewhere)
    lifecycle.generate(report)
    other.close()
    report.refresh_from_db()
    assert (report.status, report.row_count) == ("done", 12_000)
    assert progress == sorted(progress) and progress[-1] >= 90, progress
