"""What operators look at: ``GET /health/`` for probes, ``/taskhub/`` for people."""

from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from django_celery_results.models import TaskResult

from taskhub import conf, health
from taskhub.models import DeliveryCount

RECENT_FAILURES = 20


@never_cache
@require_GET
def health_view(request: HttpRequest) -> JsonResponse:
    """200 when healthy, 503 with the reasons when not: for Kubernetes, Consul, Nagios."""
    report = health.check()
    return JsonResponse(report.as_dict(), status=200 if report.healthy else 503)


@never_cache
@staff_member_required
@require_GET
def status_page(request: HttpRequest) -> HttpResponse:
    report = health.check()
    scale = max([conf.get("HEALTH_MAX_QUEUE_DEPTH")] + [q.depth or 0 for q in report.queues])
    queues = [
        {"queue": q, "percent": round(100 * (q.depth or 0) / scale, 1)} for q in report.queues
    ]
    failures = TaskResult.objects.filter(status="FAILURE").order_by("-date_done")
    context = {
        "health": report,
        "queues": queues,
        "failures": failures.only("task_id", "task_name", "result", "date_done")[:RECENT_FAILURES],
        "dead_lettered": DeliveryCount.objects.filter(dead_lettered_at__isnull=False).order_by(
            "-dead_lettered_at"
        )[:RECENT_FAILURES],
        "flower_url": conf.get("FLOWER_URL"),
    }
    return render(request, "taskhub/status.html", context, status=200)
