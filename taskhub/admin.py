from django.contrib import admin

from taskhub.models import (
    DeliveryCount,
    Image,
    Order,
    OutboxMessage,
    Report,
    SentEmail,
    Thumbnail,
)


@admin.register(SentEmail)
class SentEmailAdmin(admin.ModelAdmin):
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
    readonly_fields = ("progress", "row_count", "error", "started_at", "finished_at")


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ("number", "customer_name", "amount", "created_at")
    date_hierarchy = "created_at"
    search_fields = ("number", "customer_email")


@admin.register(OutboxMessage)
class OutboxMessageAdmin(admin.ModelAdmin):
    list_display = ("task_name", "task_id", "created_at", "published_at", "attempts", "last_error")
    list_filter = ("task_name", ("published_at", admin.EmptyFieldListFilter))
    readonly_fields = ("task_id", "created_at", "published_at", "attempts", "last_error")


@admin.register(DeliveryCount)
class DeliveryCountAdmin(admin.ModelAdmin):
    list_display = ("task_name", "task_id", "deliveries", "dead_lettered_at", "updated_at")
    list_filter = ("task_name", ("dead_lettered_at", admin.EmptyFieldListFilter))
