"""The reports pages, the reports API and the one way a report's file leaves its private
storage (``report_download``)."""

from datetime import timedelta
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    JsonResponse,
)
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET

from taskhub import storage
from taskhub.actions import ActionRefused
from taskhub.api import ApiError, api_view, find, parse_json_object, visible
from taskhub.models import Report, WorkStatus
from taskhub.reports import lifecycle
from taskhub.reports.registry import ReportParamsError, kinds, title_of


def visible_reports(user: Any) -> Any:
    return visible(Report.objects.all(), user)


def with_titles(rows: list[Report]) -> list[Report]:
    """Each report with the title of its kind (its key, if no longer registered)."""
    for report in rows:
        # For the templates only: not a field of the model.
        report.title = title_of(report.kind)  # type: ignore[attr-defined]
    return rows


def report_json(report: Report) -> dict[str, Any]:
    done = report.status == WorkStatus.DONE and report.file
    return {
        "id": report.pk,
        "kind": report.kind,
        "title": title_of(report.kind),
        "status": report.status,
        "progress": report.progress,
        "row_count": report.row_count,
        "error": report.error,
        "download_url": reverse("taskhub:report-download", args=[report.pk]) if done else None,
        "cancelled_by": lifecycle.cancelled_by(report),
        "finished_at": report.finished_at,
    }


@login_required
def reports_page(request: HttpRequest) -> HttpResponse:
    today = timezone.localdate()
    context = {
        "kinds": kinds(),
        "reports": with_titles(list(visible_reports(request.user)[:20])),
        "start": today - timedelta(days=30),
        "end": today,
    }
    return render(request, "taskhub/reports.html", context)


@login_required
def report_page(request: HttpRequest, pk: int) -> HttpResponse:
    report = get_object_or_404(visible_reports(request.user), pk=pk)
    context = {"report": with_titles([report])[0], "state": report_json(report)}
    return render(request, "taskhub/report.html", context)


@api_view(["GET", "POST"], content_types={"POST": ["application/json"]})
def api_reports(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        mine = visible_reports(request.user)[:100]
        return JsonResponse({"reports": [report_json(r) for r in mine]})
    body = parse_json_object(request, {"kind", "params"})
    try:
        report = lifecycle.request_report(request.user, body.get("kind"), body.get("params", {}))
    except ReportParamsError as exc:
        raise ApiError(400, str(exc), field=exc.field) from None
    status_url = reverse("taskhub:api-report", args=[report.pk])
    return JsonResponse({"id": report.pk, "status_url": status_url}, status=202)


@api_view(["GET"])
def api_report(request: HttpRequest, pk: int) -> HttpResponse:
    return JsonResponse(report_json(find(visible_reports(request.user), pk, "report")))


@api_view(["POST"])
def api_report_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    """Its owner (or staff) cancels a pending or running report: 200, or 409 and why."""
    report = find(visible_reports(request.user), pk, "report")
    try:
        report = lifecycle.cancel_report(report, request.user)
    except ActionRefused as exc:
        raise ApiError(409, str(exc)) from None
    return JsonResponse(report_json(report))


@login_required
@require_GET
def report_download(request: HttpRequest, pk: int) -> HttpResponseBase:
    """The one way out of the private storage: the file streamed, or on a storage that
    signs its URLs, a redirect to one that expires (``TASKHUB_DOWNLOAD_URL_SECONDS``)."""
    report = get_object_or_404(visible_reports(request.user), pk=pk)
    if report.status != WorkStatus.DONE or not report.file:
        raise Http404("This report has no file (not finished, failed, or expired).")
    signed = storage.signed_url(report.file.storage, report.file.name)
    if signed:
        return redirect(signed)
    filename = f"{report.kind}-{report.params.get('start')}-{report.params.get('end')}.csv"
    return FileResponse(
        report.file.open("rb"), as_attachment=True, filename=filename, content_type="text/csv"
    )
