"""Pages and the JSON API. Views validate, write rows, and enqueue through the outbox:
in the same transaction, published after commit, never lost if the broker is down."""

import json
import uuid
from collections.abc import Callable
from datetime import timedelta
from functools import wraps
from pathlib import PurePath
from typing import Any

from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.db.models import QuerySet
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from taskhub import conf, operations, outbox, reports
from taskhub.forms import ImageUploadForm, SignupForm
from taskhub.models import Image, Report, WorkStatus
from taskhub.tasks import generate_report, make_thumbnails, welcome


def error(status: int, message: str, **extra: Any) -> JsonResponse:
    return JsonResponse({"error": message, **extra}, status=status)


def api_login_required(view: Callable) -> Callable:
    """401 in JSON instead of a redirect to the login page."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return error(401, "authentication required")
        return view(request, *args, **kwargs)

    return wrapper


def visible(queryset: QuerySet, user: Any) -> QuerySet:
    """What ``user`` may see: their own rows, or everything for staff."""
    return queryset if user.is_staff else queryset.filter(owner=user)


def home(request: HttpRequest) -> HttpResponse:
    return render(request, "taskhub/home.html")


@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            user = form.save()
            outbox.enqueue(welcome, user.username)
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        return redirect("taskhub:signup-done")
    return render(
        request, "taskhub/signup.html", {"form": form}, status=400 if form.errors else 200
    )


def signup_done(request: HttpRequest) -> HttpResponse:
    return render(request, "taskhub/signup_done.html")


@login_required
def gallery(request: HttpRequest) -> HttpResponse:
    return render(request, "taskhub/gallery.html")


def with_titles(rows: list[Report]) -> list[Report]:
    """Each report with the title of its kind (its key, if no longer registered)."""
    kinds = reports.kinds()
    for report in rows:
        report.title = kinds[report.kind].title if report.kind in kinds else report.kind
    return rows


@login_required
def reports_page(request: HttpRequest) -> HttpResponse:
    recent = with_titles(list(visible(Report.objects.all(), request.user)[:20]))
    today = timezone.localdate()
    context = {
        "kinds": reports.kinds(),
        "reports": recent,
        "start": today - timedelta(days=30),
        "end": today,
    }
    return render(request, "taskhub/reports.html", context)


@login_required
def report_page(request: HttpRequest, pk: int) -> HttpResponse:
    report = get_object_or_404(visible(Report.objects.all(), request.user), pk=pk)
    return render(request, "taskhub/report.html", {"report": with_titles([report])[0]})


def image_json(image: Image) -> dict[str, Any]:
    return {
        "id": image.pk,
        "status": image.status,
        "error": image.error,
        "url": image.original.url,
        "name": image.original_name,
        "thumbnails": [
            {
                "size": t.size,
                "format": t.format,
                "width": t.width,
                "height": t.height,
                "url": t.file.url,
            }
            for t in image.thumbnails.all()
        ],
    }


def report_json(report: Report) -> dict[str, Any]:
    done = report.status == WorkStatus.DONE and report.file
    return {
        "id": report.pk,
        "kind": report.kind,
        "status": report.status,
        "progress": report.progress,
        "row_count": report.row_count,
        "error": report.error,
        "download_url": reverse("taskhub:report-download", args=[report.pk]) if done else None,
    }


@api_login_required
@require_http_methods(["GET", "POST"])
def api_images(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        images = visible(Image.objects.filter(deleted_at__isnull=True), request.user)
        return JsonResponse(
            {"images": [image_json(i) for i in images.prefetch_related("thumbnails")[:100]]}
        )
    limit = conf.get("MAX_UPLOAD_BYTES")
    if int(request.META.get("CONTENT_LENGTH") or 0) > limit + 64 * 1024:
        return error(413, f"upload larger than {limit} bytes")
    unknown = (set(request.POST) - {"csrfmiddlewaretoken"}) | (set(request.FILES) - {"file"})
    if unknown:
        return error(400, f"unknown fields: {sorted(unknown)}")
    upload = request.FILES.get("file")
    if upload is not None and upload.size > limit:
        return error(413, f"upload larger than {limit} bytes")
    form = ImageUploadForm(files=request.FILES)
    if not form.is_valid():
        return error(400, "invalid upload", fields=form.errors.get_json_data())
    upload = form.cleaned_data["file"]
    extension = form.cleaned_data["format"].lower().replace("jpeg", "jpg")
    image = Image(owner=request.user, original_name=PurePath(upload.name).name[:255])
    image.original.save(f"{uuid.uuid4().hex}.{extension}", upload, save=False)
    with transaction.atomic():
        image.save()
        outbox.enqueue(make_thumbnails, image.pk)
    url = reverse("taskhub:api-image", args=[image.pk])
    return JsonResponse({"id": image.pk, "status": image.status, "url": url}, status=202)


@api_login_required
@require_http_methods(["GET", "DELETE"])
def api_image(request: HttpRequest, pk: int) -> HttpResponse:
    images = visible(Image.objects.filter(deleted_at__isnull=True), request.user)
    image = get_object_or_404(images.prefetch_related("thumbnails"), pk=pk)
    if request.method == "DELETE":
        image.deleted_at = timezone.now()
        image.save(update_fields=["deleted_at"])
        return HttpResponse(status=204)
    return JsonResponse(image_json(image))


def parse_json_object(request: HttpRequest, allowed: set[str]) -> dict[str, Any]:
    """The request body as a JSON object with no unknown keys, or ValueError saying why."""
    try:
        body = json.loads(request.body or b"")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"malformed JSON: {exc}") from None
    except RecursionError:
        raise ValueError("malformed JSON: nested too deeply") from None
    if not isinstance(body, dict):
        raise ValueError("the body must be a JSON object")
    unknown = set(body) - allowed
    if unknown:
        raise ValueError(f"unknown fields: {sorted(unknown)}")
    return body


@api_login_required
@require_http_methods(["GET", "POST"])
def api_reports(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        mine = visible(Report.objects.all(), request.user)[:100]
        return JsonResponse({"reports": [report_json(r) for r in mine]})
    try:
        body = parse_json_object(request, {"kind", "params"})
        params = reports.validate(body.get("kind"), body.get("params", {}))
    except ValueError as exc:
        return error(400, str(exc))
    with transaction.atomic():
        report = Report.objects.create(owner=request.user, kind=body["kind"], params=params)
        outbox.enqueue(generate_report, report.pk)
    status_url = reverse("taskhub:api-report", args=[report.pk])
    return JsonResponse({"id": report.pk, "status_url": status_url}, status=202)


@api_login_required
@require_GET
def api_report(request: HttpRequest, pk: int) -> HttpResponse:
    report = get_object_or_404(visible(Report.objects.all(), request.user), pk=pk)
    return JsonResponse(report_json(report))


@api_login_required
@require_POST
def api_report_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    """Its owner (or staff) cancels a pending or running report: 200, or 409 and why."""
    report = get_object_or_404(visible(Report.objects.all(), request.user), pk=pk)
    try:
        report = operations.cancel_report(report, request.user)
    except operations.ActionRefused as exc:
        return error(409, str(exc))
    return JsonResponse(report_json(report))


@login_required
@require_GET
def report_download(request: HttpRequest, pk: int) -> HttpResponse:
    report = get_object_or_404(visible(Report.objects.all(), request.user), pk=pk)
    if report.status != WorkStatus.DONE or not report.file:
        raise Http404("This report has no file (not finished, failed, or expired).")
    filename = f"{report.kind}-{report.params.get('start')}-{report.params.get('end')}.csv"
    return FileResponse(
        report.file.open("rb"), as_attachment=True, filename=filename, content_type="text/csv"
    )
