"""What operators look at: ``GET /health/`` for probes, ``/taskhub/`` for people.

The staff page arrives with its verdict and queue table: the last health check of any
process (a probe's) up to ``KNOWN_FOR`` old, or a new one, quick once the workers are
known (``taskhub.ops.health``); the page then refreshes them from ``/health/``. Each
failure is named in words (``taskhub.ops.describe``). Its buttons requeue, republish and
cancel (``taskhub.ops.operations``).
"""

import hmac
from collections.abc import Callable
from dataclasses import dataclass
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
from taskhub.actions import ActionRefused
from taskhub.models import (
    DeliveryCount,
    DjangoTaskResult,
    OperatorAction,
    OutboxMessage,
    Report,
    TaskFailure,
    WorkStatus,
)
from taskhub.ops import describe, failures, health, operations
from taskhub.reports import lifecycle
from taskhub.reports.views import with_titles

RECENT = 20
#: The status page shows the last health check (any process's: a probe's, say) up to
#: this old at once; it checks itself only when there is none.
KNOWN_FOR = timedelta(seconds=30)
#: An outbox message not started this long after it was written is shown as stuck.
STUCK_AFTER = timedelta(seconds=60)


def staff_only(view: Any) -> Any:
    """Anonymous users go to the site's login (``LOGIN_URL``); others get a 403."""

    @login_required
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_staff:
            raise PermissionDenied(
                "This page is for staff only. Ask an administrator if you need it."
            )
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


@dataclass(frozen=True)
class FailureRow:
    """One failed run on the status page, in words: which task, about what, why, when;
    and the requeue that sent it again (``requeued``), or that it was itself such a run
    and failed again (``failed_again``)."""

    key: str
    title: str
    name: str
    subject: describe.Subject | None
    error: str
    when: Any
    attempts: int
    requeued: OperatorAction | None
    failed_again: OperatorAction | None


def failure_rows(
    found: list[tuple[str, str, Any, Any, str, Any, int]], target: Callable[[str, str], str]
) -> list[FailureRow]:
    """Rows of ``(key, task name, args, kwargs, error, when, attempts)``, newest first; a
    failure requeued and failed again shows once, as its newest run. ``target(task name,
    key)`` names a row as its requeue's ``OperatorAction`` does."""
    keys = {row[0] for row in found}
    actions = operations.requeues([target(row[1], row[0]) for row in found], list(keys))
    requeues = {action.target: action for action in actions}
    by_new_id = {action.detail: action for action in actions if action.detail}
    rows = []
    for key, name, args, kwargs, error, when, attempts in found:
        requeued = requeues.get(target(name, key))
        if requeued is not None and requeued.detail in keys:
            continue  # its requeue failed too: that newer row stands for both
        rows.append(
            FailureRow(
                key, describe.title(name), name, describe.subject(name, args, kwargs), error,
                when, attempts, requeued, by_new_id.get(key),
            )
        )  # fmt: skip
    return rows


@never_cache
@staff_only
@require_GET
def status_page(request: HttpRequest) -> HttpResponse:
    stuck = OutboxMessage.objects.filter(
        started_at__isnull=True, created_at__lt=timezone.now() - STUCK_AFTER
    )
    waiting, oldest = health.outbox_facts()
    celery_failures = [
        (f.task_id, f.task_name, f.args, f.kwargs, f.message or f.exception, f.failed_at, 1)
        for f in failures.celery_failures()[:RECENT]
    ]
    django_failures = [
        (r.id, r.task_path, r.args, r.kwargs, failures.message_of(failures.last_error(r)),
         r.finished_at, len(r.worker_ids))
        for r in failures.django_task_failures()[:RECENT]
    ]  # fmt: skip
    known = health.last_known(KNOWN_FOR) or health.check()
    context = {
        "health": known,
        "jobs": health.beat_facts(),
        "outbox_waiting": waiting,
        "outbox_oldest_seconds": oldest,
        "stuck": [(m, describe.title(m.task_name)) for m in stuck.order_by("created_at")[:RECENT]],
        "failures": failure_rows(celery_failures, operations.failure_target_of),
        "django_task_failures": failure_rows(django_failures, operations.django_task_target_of),
        "active_django_tasks": [
            (r, describe.title(r.task_path))
            for r in DjangoTaskResult.objects.filter(
                status__in=[operations.READY, operations.RUNNING]
            ).order_by("enqueued_at")[:RECENT]
        ],
        "dead_lettered": failure_rows(
            [
                (d.task_id, d.task_name, d.args, d.kwargs, "", d.dead_lettered_at, d.deliveries)
                for d in DeliveryCount.objects.filter(dead_lettered_at__isnull=False).order_by(
                    "-dead_lettered_at"
                )[:RECENT]
            ],
            operations.dead_letter_target_of,
        ),
        "active_reports": with_titles(
            list(
                Report.objects.filter(status__in=[WorkStatus.PENDING, WorkStatus.RUNNING])
                .select_related("owner")
                .order_by("created_at")[:RECENT]
            )
        ),
        "actions": OperatorAction.objects.select_related("actor")[:RECENT],
        "flower_url": conf.get("FLOWER_URL"),
        "max_depth": conf.get("HEALTH_MAX_QUEUE_DEPTH"),
        "scale": max([conf.get("HEALTH_MAX_QUEUE_DEPTH")] + [q.depth or 0 for q in known.queues]),
    }
    return render(request, "taskhub/status.html", context)


def _named(task_name: str, subject: describe.Subject | None) -> str:
    """ "Thumbnails (image 12: cat.jpg)": a task and what it was about, in words."""
    words = describe.title(task_name)
    return f"{words} ({subject.text})" if subject else words


def _act(action: str, key: str, user: Any) -> str:
    """Do one staff action; the message to show. ``ActionRefused`` says why not."""
    if action == "requeue-dead":
        delivery = get_object_or_404(DeliveryCount, task_id=key)
        operations.requeue_dead_letter(delivery, user)
        subject = describe.subject(delivery.task_name, delivery.args, delivery.kwargs)
        return f"{_named(delivery.task_name, subject)} is queued again."
    if action == "requeue-failed":
        failure = get_object_or_404(TaskFailure, task_id=key)
        operations.requeue_failure(failure, user)
        subject = describe.subject(failure.task_name, failure.args, failure.kwargs)
        return f"{_named(failure.task_name, subject)} is queued again."
    if action == "republish":
        message = get_object_or_404(OutboxMessage, task_id=key)
        named = describe.title(message.task_name)
        if operations.republish(message, user):
            return f"{named} is published again."
        return f"The broker cannot be reached: {named} stays in the outbox until it is back."
    if action == "cancel-report":
        report = lifecycle.cancel_report(get_object_or_404(Report, pk=key), user)
        return f"Report {report.pk} is cancelled."
    if action == "requeue-django-task":
        failed = get_object_or_404(DjangoTaskResult, pk=key)
        operations.requeue_django_task(failed, user)
        return f"{describe.title(failed.task_path)} is queued again."
    if action == "cancel-django-task":
        result = operations.cancel_django_task(get_object_or_404(DjangoTaskResult, pk=key), user)
        return f"{describe.title(result.task_path)} is cancelled."
    raise Http404(f"no action {action!r}")


@staff_only
@require_POST
def status_action(request: HttpRequest, action: str, key: str) -> HttpResponse:
    try:
        messages.success(request, _act(action, key, request.user), fail_silently=True)
    except ActionRefused as exc:
        messages.error(request, str(exc), fail_silently=True)
    return redirect("taskhub:status")
