"""What operators look at: ``GET /health/`` for probes, ``/taskhub/`` for people.

The staff page renders from the database alone, at once; the broker's and the workers'
facts (a broadcast ping that takes up to ``TASKHUB_HEALTH_TIMEOUT``) are fetched by the
page from ``/health/`` after it has loaded. Its buttons requeue, republish and cancel
(``taskhub.operations``).
"""

from datetime import timedelta
from typing import Any

from celery import current_app
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Max
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST
from django_celery_beat.models import PeriodicTask
from django_celery_results.models import TaskResult

from taskhub import conf, failures, health, operations
from taskhub.models import DeliveryCount, OperatorAction, OutboxMessage, Report, WorkStatus

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


@never_cache
@require_GET
def health_view(request: HttpRequest) -> JsonResponse:
    """200 when healthy, 503 with the reasons when not: for Kubernetes, Consul, Nagios."""
    report = health.check()
    return JsonResponse(report.as_dict(), status=200 if report.healthy else 503)


def periodic_jobs() -> list[dict[str, Any]]:
    """Each job with its last run: the later of beat's own record (written every few
    minutes) and the newest result of its task."""
    schedule = current_app.conf.beat_schedule
    rows = {row.name: row for row in PeriodicTask.objects.filter(name__in=list(schedule))}
    tasks = {entry["task"] for entry in schedule.values()}
    results = dict(
        TaskResult.objects.filter(task_name__in=tasks)
        .values("task_name")
        .annotate(last=Max("date_created"))
        .values_list("task_name", "last")
    )
    jobs = []
    for name, entry in schedule.items():
        row = rows.get(name)
        runs = [t for t in (row and row.last_run_at, results.get(entry["task"])) if t]
        jobs.append(
            {
                "name": name,
                "task": entry["task"],
                "last_run_at": max(runs) if runs else None,
                "state": "not loaded" if row is None else "yes" if row.enabled else "paused",
            }
        )
    return jobs


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
        "jobs": periodic_jobs(),
        "outbox_waiting": waiting,
        "outbox_oldest_seconds": oldest,
        "stuck": stuck.order_by("created_at")[:RECENT],
        "failures": [
            (f, operations.failure_target(f) in requeued)
            for f in failures.celery_failures().only("task_id", "task_name", "result", "date_done")[
                :RECENT
            ]
        ],
        "django_task_failures": [
            (f, failures.last_error(f)) for f in failures.django_task_failures()[:RECENT]
        ],
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
        result = get_object_or_404(TaskResult, task_id=key)
        message = operations.requeue_failure(result, user)
        return f"{result.task_name} requeued as {message.task_id}"
    if action == "republish":
        message = get_object_or_404(OutboxMessage, task_id=key)
        if operations.republish(message, user):
            return f"{message.task_name}[{message.task_id}] published"
        return f"the broker is unreachable: {message.task_name} stays in the outbox"
    if action == "cancel-report":
        report = operations.cancel_report(get_object_or_404(Report, pk=key), user)
        return f"report {report.pk} cancelled"
    raise Http404(f"no action {action!r}")


@staff_only
@require_POST
def status_action(request: HttpRequest, action: str, key: str) -> HttpResponse:
    try:
        messages.success(request, _act(action, key, request.user), fail_silently=True)
    except operations.ActionRefused as exc:
        messages.error(request, f"Refused: {exc}", fail_silently=True)
    return redirect("taskhub:status")
