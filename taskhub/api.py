"""The JSON API's edges, the same for every API view of every wing.

Every API view goes through ``api_view``: whatever goes wrong at the edges (no login, a
CSRF failure, an unknown id, a wrong method, content type or size) is answered in JSON,
``{"error": "<for a person>", ...machine-readable keys}``, never as an HTML page or a 500.
The views themselves parse and answer; the services of their wing do the work.
"""

import json
import logging
from collections.abc import Callable, Collection, Iterable
from functools import wraps
from typing import Any

from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.http.multipartparser import MultiPartParserError
from django.http.request import UnreadablePostError
from django.middleware.csrf import CsrfViewMiddleware
from django.utils.decorators import decorator_from_middleware
from django.utils.log import log_response
from django.views.decorators.csrf import csrf_exempt

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
    request: HttpRequest, methods: Collection[str], content_types: dict[str, Collection[str]]
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
    assert request.method is not None  # None is in no methods: refused above
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
    methods: Iterable[str], content_types: dict[str, Collection[str]] | None = None
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
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
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


def parse_json_object(request: HttpRequest, allowed: set[str]) -> dict[str, Any]:
    """The request body as a JSON object with no unknown keys, or ApiError (400) why."""
    try:
        body = json.loads(request.body or b"")
    except json.JSONDecodeError as exc:
        raise ApiError(
            400, f"The body is not valid JSON (line {exc.lineno}, column {exc.colno}).",
            reason=exc.msg,
        ) from None  # fmt: skip
    except UnicodeDecodeError:
        raise ApiError(400, "The body is not valid JSON: it is not UTF-8 text.") from None
    except RecursionError:
        raise ApiError(400, "The body is not valid JSON: it is nested too deeply.") from None
    if not isinstance(body, dict):
        raise ApiError(400, "the body must be a JSON object")
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise ApiError(400, f"unknown fields: {', '.join(unknown)}", unknown=unknown)
    return body
