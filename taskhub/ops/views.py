"""What operators look at: ``GET /health/`` for probes, ``/taskhub/`` for people.

The staff page renders from the database alone, at once; the broker's and the workers'
facts (a broadcast ping that takes up to ``TASKHUB_HEALTH_TIMEOUT``) are fetched by the
page from ``/health/`` after it has loaded. Its buttons requeue, republish and cancel
(``taskhub.ops.operations``).
"""

import hmac
from datetime import timedelta
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from taskhub import conf
from taskhub.models import (
    DeliveryCount,
    DjangoTaskResult,
    OperatorAction,
    OutboxMessage,
    Report,
    TaskFailure,
    WorkStatus,
)
from taskhub.ops import failures, health, operations

RECENT = 20
#: An outbox message not started this long after it was written is shown as stuck.
STUCK_AFTER = timedelta(seconds=60)


def staff_only(view: Any) -> Any:
    """Anonymous users go to the site's login (``LOGIN_URL``); others get a 403."""

    @login_required
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_staff:
            raise PermissionDenied("the status page is for staff")
        return view(request, *args, **kwargs)

    return wrapper


def may_see_health_details(request: HttpRequest) -> bool:
    """Staff, or a caller with ``Authorization: Bearer <TASKHUB_HEALTH_TOKEN>``."""
    if request.user.is_authenticated and request.user.is_staff:
        return True
    token = conf.get("HEALTH_TOKEN")
    given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    return bool(token) and hmac.compare_digest(given.encode(), token.encode())


@never_cache
@require_GET
def health_view(request: HttpRequest) -> JsonResponse:
    """200 when healthy, 503 when not: for Kubernetes, Consul, Nagios. Anyone gets the
    verdict; the details (workers' hostnames, queues, jobs, problems) only staff and
    callers with the health token."""
    report = health.check()
    body = report.as_dict() if may_see_health_details(request) else {"healthy": report.healthy}
    return JsonResponse(body, status=200 if report.healthy else 503)


@never_cache
@staff_only
@require_GET
def status_page(request: HttpRequest) -> HttpResponse:
    requeued = operations.requeued_targets()
    stuck = OutboxMessage.objects.filter(
        started_at__isnull=True, created_at__lt=timezone.now() - STUCK_AFTER
    )
    waiting, oldest = health.outbox_facts()
    context = {
        "jobs": health.beat_facts(),
        "outbox_waiting": waiting,
        "outbox_oldest_seconds": oldest,
        "stuck": stuck.order_by("created_at")[:RECENT],
        "failures": [
            (f, operations.failure_target(f) in requeued)
            for f in failures.celery_failures()[:RECENT]
        ],
        "django_task_failures": [
            (f, failures.last_error(f), operations.django_task_target(f) in requeued)
            for f in failures.django_task_failures()[:RECENT]
        ],
        "active_django_tasks": DjangoTaskResult.objects.filter(
            status__in=[operations.READY, operations.RUNNING]
        ).order_by("enqueued_at")[:RECENT],
        "dead_lettered": [
            (d, operations.dead_letter_target(d) in requeued)
            for d in DeliveryCount.objects.filter(dead_lettered_at__isnull=False).order_by(
                "-dead_lettered_at"
            )[:RECENT]
        ],
        "active_reports": Report.objects.filter(
            status__in=[WorkStatus.PENDING, WorkStatus.RUNNING]
        ).order_by("created_at")[:RECENT],
        "actions": OperatorAction.objects.select_related("actor")[:RECENT],
        "flower_url": conf.get("FLOWER_URL"),
        "max_depth": conf.get("HEALTH_MAX_QUEUE_DEPTH"),
    }
    return render(request, "taskhub/status.html", context)


def _act(action: str, key: str, user: Any) -> str:
    """Do one staff action; the message to show. ``ActionRefused`` says why not."""
    if action == "requeue-dead":
        delivery = get_object_or_404(DeliveryCount, task_id=key)
        message = operations.requeue_dead_letter(delivery, user)
        return f"{delivery.task_name} requeued as {message.task_id}"
    if action == "requeue-failed":
        failure = get_object_or_404(TaskFailure, task_id=key)
        message = operations.requeue_failure(failure, user)
        return f"{failure.task_name} requeued as {message.task_id}"
    if action == "republish":
        message = get_object_or_404(OutboxMessage, task_id=key)
        if operations.republish(message, user):
            return f"{message.task_name}[{message.task_id}] published"
        return f"the broker is unreachable: {message.task_name} stays in the outbox"
    if action == "cancel-report":
        report = operations.cancel_report(get_object_or_404(Report, pk=key), user)
        return f"report {report.pk} cancelled"
    if action == "requeue-django-task":
        failed = get_object_or_404(DjangoTaskResult, pk=key)
        again = operations.requeue_django_task(failed, user)
        return f"{failed.task_path} requeued as {again.id}"
    if action == "cancel-django-task":
        result = operations.cancel_django_task(get_object_or_404(DjangoTaskResult, pk=key), user)
        return f"{result.task_path}[{result.id}] cancelled"
    raise Http404(f"no action {action!r}")


@staff_only
@require_POST
def status_action(request: HttpRequest, action: str, key: str) -> HttpResponse:
    try:
        messages.success(request, _act(action, key, request.user), fail_silently=True)
    except operations.ActionRefused as exc:
        messages.error(request, f"Refused: {exc}", fail_silently=True)
    return redirect("taskhub:status")
