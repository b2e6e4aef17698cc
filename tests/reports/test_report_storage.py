"""Report files hold people's data: they go to taskhub's private storage, never the
media a host serves, and leave it only through the download view."""

import importlib
from pathlib import Path

import pytest
from django.apps import apps
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, Storage, default_storage
from django.urls import reverse

from taskhub import reports, storage
from taskhub.models import Report, WorkStatus
from taskhub.reports import lifecycle, registry
from tests.orders import DAY, make_orders

pytestmark = pytest.mark.django_db

move_report_files = importlib.import_module(
    "taskhub.migrations.0005_task_failures_and_private_reports"
).move_report_files


def test_a_report_is_written_beside_media_root_not_under_it(settings, user):
    make_orders(3)
    report = Report.objects.create(
        owner=user, kind="orders", params={"start": str(DAY), "end": str(DAY)}
    )
    lifecycle.claim(report)
    lifecycle.generate(report)
    path = Path(report.file.path)
    assert path.is_file()
    assert path.is_relative_to(storage.private_root())
    assert not path.is_relative_to(Path(settings.MEDIA_ROOT).resolve())
    assert not default_storage.exists(report.file.name)
    with pytest.raises(ValueError, match="no public URL"):
        report.file.url  # noqa: B018


def test_a_host_storage_alias_is_used_for_report_files(settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        storage.REPORTS_ALIAS: {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": tmp_path / "vault"},
        },
    }
    chosen = storage.reports_storage()
    assert isinstance(chosen, FileSystemStorage)
    assert Path(chosen.location) == tmp_path / "vault"


class SigningStorage(Storage):
    """Stands for django-storages' S3Storage, whose ``url`` signs for ``expire`` seconds."""

    def url(self, name, parameters=None, expire=None, http_method=None):
        return f"https://bucket.example/{name}?X-Amz-Expires={expire}"


class PublicCdnStorage(Storage):
    def url(self, name):
        return f"https://cdn.example/{name}"


def test_a_signing_storage_gets_a_short_lived_url_and_others_none(settings):
    settings.TASKHUB_DOWNLOAD_URL_SECONDS = 120
    signed = storage.signed_url(SigningStorage(), "reports/1/r.csv")
    assert signed == "https://bucket.example/reports/1/r.csv?X-Amz-Expires=120"
    assert storage.signed_url(storage.PrivateReportStorage(), "r.csv") is None, "streamed"
    assert storage.signed_url(PublicCdnStorage(), "r.csv") is None, "never a public URL"


def test_report_files_of_0_2_in_the_public_media_are_moved_to_the_private_storage(user):
    report = Report.objects.create(owner=user, kind="signups", status=WorkStatus.DONE)
    name = f"reports/{report.pk}/signups-{report.pk}.csv"
    default_storage.save(name, ContentFile(b"username,email\nada,ada@example.com\n"))
    Report.objects.filter(pk=report.pk).update(file=name)
    move_report_files(apps, None)
    report.refresh_from_db()
    assert not default_storage.exists(name), "no longer served as media"
    assert report.file.name == name
    with report.file.open("rb") as moved:
        assert moved.read().startswith(b"username,email")
    move_report_files(apps, None)  # run twice: nothing to move, nothing lost
    assert report.file.storage.exists(name)


def test_the_signups_report_follows_the_user_model():
    assert registry.signup_columns() == ("username", "email", "date_joined")
    assert reports.get_kind("signups").header() == ("username", "email", "date_joined")


def test_the_download_view_redirects_to_a_signed_url_on_a_signing_storage(
    client, user, monkeypatch
):
    report = Report.objects.create(
        owner=user, kind="signups", status=WorkStatus.DONE, file="reports/1/signups-1.csv"
    )
    monkeypatch.setattr(Report.file.field, "storage", SigningStorage())
    client.force_login(user)
    response = client.get(reverse("taskhub:report-download", args=[report.pk]))
    assert response.status_code == 302
    assert response["Location"].startswith("https://bucket.example/reports/1/signups-1.csv?")
    client.logout()
    anonymous = client.get(reverse("taskhub:report-download", args=[report.pk]))
    assert anonymous.status_code == 302 and "bucket" not in anonymous["Location"]


def test_the_admin_links_a_report_file_through_the_download_view(admin_client):
    report = Report.objects.create(
        kind="signups", status=WorkStatus.DONE, file="reports/1/signups-1.csv"
    )
    page = admin_client.get(reverse("admin:taskhub_report_change", args=[report.pk]))
    assert page.status_code == 200, "the file has no public URL to render"
    download = reverse("taskhub:report-download", args=[report.pk])
    assert f'href="{download}"' in page.content.decode()


def test_a_user_model_without_date_joined_gets_a_clear_refusal_of_signups(monkeypatch):
    monkeypatch.setattr(registry, "signup_columns", lambda: ("email",))
    with pytest.raises(
        reports.ReportParamsError, match="need a user model with a date_joined field"
    ):
        registry.validate("signups", {"start": str(DAY), "end": str(DAY)})
