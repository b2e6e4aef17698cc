"""taskhub's pages and its JSON API. Views validate, write rows, and enqueue through the
outbox: in the same transaction, published after commit, never lost if the broker is down.

Every API view goes through ``api_view``: whatever goes wrong at the edges (no login, a
CSRF failure, an unknown id, a wrong method, content type or size) is answered in JSON,
``{"error": "<for a person>", ...machine-readable keys}``, never as an HTML page or a 500.
"""

import json
import logging
import uuid
from collections.abc import Callable, Iterable
from datetime import timedelta
from functools import wraps
from pathlib import PurePath
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.db import transaction
from django.db.models import QuerySet
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.http.multipartparser import MultiPartParserError
from django.http.request import UnreadablePostError
from django.middleware.csrf import CsrfViewMiddleware
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.decorators import decorator_from_middleware
from django.utils.log import log_response
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET

from taskhub import conf, operations, outbox, reports, storage
from taskhub.forms import ImageUploadForm
from taskhub.models import Image, Report, WorkStatus
from taskhub.tasks import generate_report, make_thumbnails

logger = logging.getLogger(__name__)


def error(status: int, message: str, **extra: Any) -> JsonResponse:
    return JsonResponse({"error": message, **extra}, status=status)


class ApiError(Exception):
    """A refusal: its status, a message for a person, and machine-readable keys."""

    def __init__(
        self, status: int, message: str, headers: dict[str, str] | None = None, **extra: Any
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers
        self.extra = extra

    def response(self) -> JsonResponse:
        body = {"error": self.message, **self.extra}
        return JsonResponse(body, status=self.status, headers=self.headers)


class JsonCsrfCheck(CsrfViewMiddleware):
    """Django's CSRF check, unchanged, except that its refusal is a JSON 403 (the host's
    ``CSRF_FAILURE_VIEW`` answers for its own pages, in HTML)."""

    def _reject(self, request: HttpRequest, reason: str) -> HttpResponse:
        response = error(
            403,
            "The page's security token is missing or out of date: reload the page.",
            reason=reason,
        )
        log_response(
            "Forbidden (%s): %s",
            reason,
            request.path,
            response=response,
            request=request,
            logger=logging.getLogger("django.security.csrf"),
        )
        return response


def refuse_early(
    request: HttpRequest, methods: Iterable[str], content_types: dict[str, Iterable[str]]
) -> None:
    """ApiError for what needs no reading of the body: no login (401, before anything
    else), a wrong method (405), a wrong content type (415)."""
    if not request.user.is_authenticated:
        raise ApiError(401, "authentication required")
    if request.method not in methods:
        allowed = ", ".join(methods)
        raise ApiError(
            405, f"{request.method} is not allowed here; use {allowed}", {"Allow": allowed}
        )
    accepted = content_types.get(request.method)
    if accepted is not None and request.content_type not in accepted:
        raise ApiError(
            415, f"send the body as {' or '.join(accepted)}", content_types=list(accepted)
        )


def unreadable_body(request: HttpRequest, exc: Exception) -> JsonResponse:
    """413 for a body over Django's limits (``DATA_UPLOAD_MAX_MEMORY_SIZE``...), 400 for
    one that cannot be parsed; logged where Django logs them."""
    status = 413 if isinstance(exc, RequestDataTooBig) else 400
    extra = {"status_code": status, "request": request}
    if isinstance(exc, SuspiciousOperation):
        logging.getLogger(f"django.security.{type(exc).__name__}").error("%s", exc, extra=extra)
    else:
        logger.warning("unreadable request body: %s", exc, extra=extra)
    if status == 413:
        return error(413, "the request is too large")
    return error(400, "the request body could not be read")


def api_view(
    methods: Iterable[str], content_types: dict[str, Iterable[str]] | None = None
) -> Callable[[Callable], Callable]:
    """The JSON API's edges, the same for every API view: 401, 405, 415 (see
    ``refuse_early``), then Django's CSRF check (403), then the view; its ApiError (a
    404 from ``find``, say) and an unreadable body answer in JSON too.

    The host's CsrfViewMiddleware skips these views (``csrf_exempt``) only so that the
    same check runs here, after the 401, the way ``csrf_protect`` runs it."""
    methods = tuple(methods)
    accepted = content_types or {}

    def decorator(view: Callable) -> Callable:
        checked = decorator_from_middleware(JsonCsrfCheck)(view)

        @csrf_exempt
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            try:
                refuse_early(request, methods, accepted)
                return checked(request, *args, **kwargs)
            except ApiError as exc:
                return exc.response()
            except (SuspiciousOperation, MultiPartParserError, UnreadablePostError) as exc:
                return unreadable_body(request, exc)

        return wrapper

    return decorator


def visible(queryset: QuerySet, user: Any) -> QuerySet:
    """What ``user`` may see: their own rows, or everything for staff."""
    return queryset if user.is_staff else queryset.filter(owner=user)


def find(queryset: QuerySet, pk: int, noun: str) -> Any:
    """The row ``pk`` of ``queryset``, or a 404 that does not tell a row someone else
    owns from one that does not exist."""
    try:
        return queryset.get(pk=pk)
    except queryset.model.DoesNotExist:
        raise ApiError(404, f"there is no {noun} {pk}") from None


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


@api_view(["GET", "POST"], content_types={"POST": ["multipart/form-data"]})
def api_images(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        images = visible(Image.objects.filter(deleted_at__isnull=True), request.user)
        return JsonResponse(
            {"images": [image_json(i) for i in images.prefetch_related("thumbnails")[:100]]}
        )
    image = save_upload(request)
    url = reverse("taskhub:api-image", args=[image.pk])
    return JsonResponse({"id": image.pk, "status": image.status, "url": url}, status=202)


def save_upload(request: HttpRequest) -> Image:
    """The uploaded image, saved with its thumbnails enqueued, or ApiError (400, 413)."""
    limit = conf.get("MAX_UPLOAD_BYTES")
    if int(request.META.get("CONTENT_LENGTH") or 0) > limit + 64 * 1024:
        raise ApiError(413, f"upload larger than {limit} bytes")
    unknown = (set(request.POST) - {"csrfmiddlewaretoken"}) | (set(request.FILES) - {"file"})
    if unknown:
        raise ApiError(
            400, f"unknown fields: {', '.join(sorted(unknown))}", unknown=sorted(unknown)
        )
    upload = request.FILES.get("file")
    if upload is not None and upload.size > limit:
        raise ApiError(413, f"upload larger than {limit} bytes")
    form = ImageUploadForm(files=request.FILES)
    if not form.is_valid():
        raise ApiError(400, "invalid upload", fields=form.errors.get_json_data())
    upload = form.cleaned_data["file"]
    extension = form.cleaned_data["format"].lower().replace("jpeg", "jpg")
    image = Image(owner=request.user, original_name=PurePath(upload.name).name[:255])
    image.original.save(f"{uuid.uuid4().hex}.{extension}", upload, save=False)
    with transaction.atomic():
        image.save()
        outbox.enqueue(make_thumbnails, image.pk)
    return image


@api_view(["GET", "DELETE"])
def api_image(request: HttpRequest, pk: int) -> HttpResponse:
    images = visible(Image.objects.filter(deleted_at__isnull=True), request.user)
    image = find(images.prefetch_related("thumbnails"), pk, "image")
    if request.method == "DELETE":
        image.deleted_at = timezone.now()
        image.save(update_fields=["deleted_at"])
        return HttpResponse(status=204)
    return JsonResponse(image_json(image))


def parse_json_object(request: HttpRequest, allowed: set[str]) -> dict[str, Any]:
    """The request body as a JSON object with no unknown keys, or ApiError (400) why."""
    try:
        body = json.loads(request.body or b"")
    except json.JSONDecodeError as exc:
        raise ApiError(
            400, f"malformed JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from None
    except UnicodeDecodeError:
        raise ApiError(400, "malformed JSON: the body is not UTF-8 text") from None
    except RecursionError:
        raise ApiError(400, "malformed JSON: nested too deeply") from None
    if not isinstance(body, dict):
        raise ApiError(400, "the body must be a JSON object")
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise ApiError(400, f"unknown fields: {', '.join(unknown)}", unknown=unknown)
    return body


@api_view(["GET", "POST"], content_types={"POST": ["application/json"]})
def api_reports(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        mine = visible(Report.objects.all(), request.user)[:100]
        return JsonResponse({"reports": [report_json(r) for r in mine]})
    body = parse_json_object(request, {"kind", "params"})
    try:
        params = reports.validate(body.get("kind"), body.get("params", {}))
    except ValueError as exc:  # ReportParamsError, or a host's validate refusing
        raise ApiError(400, str(exc)) from None
    with transaction.atomic():
        report = Report.objects.create(owner=request.user, kind=body["kind"], params=params)
        outbox.enqueue(generate_report, report.pk)
    status_url = reverse("taskhub:api-report", args=[report.pk])
    return JsonResponse({"id": report.pk, "status_url": status_url}, status=202)


@api_view(["GET"])
def api_report(request: HttpRequest, pk: int) -> HttpResponse:
    return JsonResponse(
        report_json(find(visible(Report.objects.all(), request.user), pk, "report"))
    )


@api_view(["POST"])
def api_report_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    """Its owner (or staff) cancels a pending or running report: 200, or 409 and why."""
    report = find(visible(Report.objects.all(), request.user), pk, "report")
    try:
        report = operations.cancel_report(report, request.user)
    except operations.ActionRefused as exc:
        raise ApiError(409, str(exc)) from None
    return JsonResponse(report_json(report))


@login_required
@require_GET
def report_download(request: HttpRequest, pk: int) -> HttpResponse:
    """The one way out of the private storage: the file streamed, or on a storage that
    signs its URLs, a redirect to one that expires (``TASKHUB_DOWNLOAD_URL_SECONDS``)."""
    report = get_object_or_404(visible(Report.objects.all(), request.user), pk=pk)
    if report.status != WorkStatus.DONE or not report.file:
        raise Http404("This report has no file (not finished, failed, or expired).")
    signed = storage.signed_url(report.file.storage, report.file.name)
    if signed:
        return redirect(signed)
    filename = f"{report.kind}-{report.params.get('start')}-{report.params.get('end')}.csv"
    return FileResponse(
        report.file.open("rb"), as_attachment=True, filename=filename, content_type="text/csv"
    )
