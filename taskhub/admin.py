"""Rows that record what happened (sent emails, the outbox, dead letters, operator
actions) are read-only: they change through actions that say what they do, and each
action is recorded (``OperatorAction``) by ``taskhub.ops.operations``."""

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from taskhub.actions import ActionRefused
from taskhub.models import (
    DeliveryCount,
    DjangoTaskResult,
    Image,
    OperatorAction,
    OutboxMessage,
    Report,
    SentEmail,
    TaskFailure,
    Thumbnail,
)
from taskhub.ops import operations
from taskhub.reports import lifecycle


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def run_action(
    modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet, act: Any
) -> None:
    """Apply ``act(row, user)`` to each selected row; say what was done and refused."""
    done, refused = 0, []
    for row in queryset:
        try:
            act(row, request.user)
            done += 1
        except ActionRefused as exc:
            refused.append(str(exc))
    if done:
        modeladmin.message_user(request, f"{done} done.", messages.SUCCESS)
    for reason in refused:
        modeladmin.message_user(request, f"Refused: {reason}", messages.WARNING)


@admin.register(SentEmail)
class SentEmailAdmin(ReadOnlyAdmin):
    list_display = ("key", "recipient", "status", "attempts", "sent_at")
    list_filter = ("status", "kind")
    search_fields = ("key", "recipient")


class ThumbnailInline(admin.TabularInline):
    model = Thumbnail
    extra = 0
    readonly_fields = ("size", "format", "width", "height", "file")


@admin.register(Image)
class ImageAdmin(admin.ModelAdmin):
    list_display = ("pk", "owner", "original_name", "status", "created_at", "deleted_at")
    list_filter = ("status",)
    inlines = [ThumbnailInline]


@admin.register(Report)
class ReportAdmin(admin.ModelAdmin):
    list_display = ("pk", "kind", "owner", "status", "progress", "row_count", "created_at")
    list_filter = ("status", "kind")
    # The file has no URL of its own (taskhub.storage): it is linked through the download
    # view, which checks who asks, and never edited here.
    exclude = ("file",)
    readonly_fields = ("download", "progress", "row_count", "error", "started_at", "finished_at")
    actions = ["cancel"]

    @admin.display(description="File")
    def download(self, report: Report) -> str:
        if not report.file:
            return "-"
        url = reverse("taskhub:report-download", args=[report.pk])
        return format_html('<a href="{}">{}</a>', url, report.file.name)

    @admin.action(description="Cancel the selected reports (queued or running)")
    def cancel(self, request: HttpRequest, queryset: QuerySet) -> None:
        run_action(self, request, queryset, lifecycle.cancel_report)


@admin.register(OutboxMessage)
class OutboxMessageAdmin(ReadOnlyAdmin):
    list_display = ("task_name", "task_id", "created_at", "published_at", "started_at", "attempts")
    list_filter = ("task_name", ("published_at", admin.EmptyFieldListFilter))
    search_fields = ("task_id", "task_name")
    actions = ["republish"]

    @admin.action(description="Publish the selected messages now (not started ones only)")
    def republish(self, request: HttpRequest, queryset: QuerySet) -> None:
        run_action(self, request, queryset, operations.republish)


@admin.register(DeliveryCount)
class DeliveryCountAdmin(ReadOnlyAdmin):
    list_display = ("task_name", "task_id", "deliveries", "dead_lettered_at", "updated_at")
    list_filter = ("task_name", ("dead_lettered_at", admin.EmptyFieldListFilter))
    search_fields = ("task_id", "task_name")
    actions = ["requeue"]

    @admin.action(description="Requeue the selected dead-lettered tasks, once each")
    def requeue(self, request: HttpRequest, queryset: QuerySet) -> None:
        run_action(self, request, queryset, operations.requeue_dead_letter)


@admin.register(OperatorAction)
class OperatorActionAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "actor", "verb", "target")
    list_filter = ("verb",)
    search_fields = ("target",)


@admin.register(DjangoTaskResult)
class DjangoTaskResultAdmin(ReadOnlyAdmin):
    list_display = ("task_path", "id", "status", "queue_name", "enqueued_at", "finished_at")
    list_filter = ("status", "queue_name", "task_path")
    search_fields = ("id", "task_path")
    actions = ["requeue", "cancel"]

    @admin.action(description="Requeue the selected failed Django tasks, once each")
    def requeue(self, request: HttpRequest, queryset: QuerySet[DjangoTaskResult]) -> None:
        run_action(self, request, queryset, operations.requeue_django_task)

    @admin.action(description="Cancel the selected queued or running Django tasks")
    def cancel(self, request: HttpRequest, queryset: QuerySet[DjangoTaskResult]) -> None:
        run_action(self, request, queryset, operations.cancel_django_task)


@admin.register(TaskFailure)
class TaskFailureAdmin(ReadOnlyAdmin):
    list_display = ("task_name", "task_id", "exception", "failed_at")
    list_filter = ("task_name", "exception")
    search_fields = ("task_id", "task_name", "message")
    actions = ["requeue"]

    @admin.action(description="Requeue the selected failed tasks, once each")
    def requeue(self, request: HttpRequest, queryset: QuerySet) -> None:
        run_action(self, request, queryset, operations.requeue_failure)
