"""Domain state of background work: what was sent, what was made, how far it got."""

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from taskhub.storage import reports_storage


class SentEmail(models.Model):
    """One row per email that must go out at most once, claimed before it is sent.

    ``key`` is unique (``welcome:<user id>``), so two deliveries of the same task race
    on an INSERT, not on a read-then-write. ``claimed_at`` is a lease: a sender that
    died mid-send leaves a claim that expires, and the next delivery takes it over.
    """

    class Status(models.TextChoices):
        CLAIMED = "claimed"
        SENT = "sent"

    key = models.CharField(max_length=200, unique=True)
    kind = models.CharField(max_length=50)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    recipient = models.EmailField()
    subject = models.CharField(max_length=255, blank=True)
    status = models.CharField(max_length=10, choices=Status, default=Status.CLAIMED)
    attempts = models.PositiveIntegerField(default=0)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.key} -> {self.recipient} ({self.status})"


class WorkStatus(models.TextChoices):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


class Image(models.Model):
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    original = models.FileField(upload_to="images/originals/", max_length=255)
    original_name = models.CharField(max_length=255, blank=True)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=WorkStatus, default=WorkStatus.PENDING)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    deleted_at = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"image {self.pk} ({self.status})"


class Thumbnail(models.Model):
    image = models.ForeignKey(Image, related_name="thumbnails", on_delete=models.CASCADE)
    size = models.PositiveIntegerField(help_text="Longest side asked for, in pixels")
    format = models.CharField(max_length=10)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    file = models.FileField(max_length=255)

    class Meta:
        ordering = ["size", "format"]
        constraints = [
            models.UniqueConstraint(
                fields=["image", "size", "format"], name="one_thumbnail_per_size_and_format"
            )
        ]

    def __str__(self) -> str:
        return f"{self.image_id}: {self.size} {self.format}"


class Report(models.Model):
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE
    )
    kind = models.CharField(max_length=50)
    params = models.JSONField(default=dict)
    # Set for reports made by a schedule (``daily:orders:2026-11-22``), so a job fired
    # twice finds the report it already made.
    dedupe_key = models.CharField(max_length=100, unique=True, null=True, blank=True)
    status = models.CharField(max_length=10, choices=WorkStatus, default=WorkStatus.PENDING)
    progress = models.PositiveSmallIntegerField(default=0)
    row_count = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    file = models.FileField(max_length=255, blank=True, storage=reports_storage)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"report {self.pk} {self.kind} ({self.status})"


class OutboxMessage(models.Model):
    """A task to publish, written in the same transaction as the rows it is about.

    If the broker is down when the transaction commits, the row waits here and the
    relay publishes it later. A message published but never started (a worker killed
    between taking it off a Redis list and recording it as unacknowledged, a window
    kombu's Redis transport has) is published again after ``OUTBOX_REDELIVER_AFTER``.
    ``task_id`` is fixed at write time, so a message published twice is one task id
    twice, which the idempotent tasks absorb.
    """

    task_id = models.UUIDField(unique=True, default=uuid.uuid4, editable=False)
    task_name = models.CharField(max_length=200)
    args = models.JSONField(default=list)
    kwargs = models.JSONField(default=dict)
    options = models.JSONField(default=dict, blank=True, help_text="queue, priority, eta")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    published_at = models.DateTimeField(null=True, blank=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        state = "started" if self.started_at else "published" if self.published_at else "pending"
        return f"{self.task_name}[{self.task_id}] ({state})"


class DeliveryCount(models.Model):
    """How often a redelivered task came back; past a limit it is dead-lettered.

    Only redeliveries are counted (the broker marks them), so the first delivery of a
    task costs no write. A message that kills its worker every time is redelivered with
    that mark each time, and stops here instead of looping forever.
    """

    task_id = models.CharField(max_length=255, unique=True)
    task_name = models.CharField(max_length=200)
    deliveries = models.PositiveIntegerField(default=1)
    args = models.JSONField(default=list)
    kwargs = models.JSONField(default=dict)
    dead_lettered_at = models.DateTimeField(null=True, blank=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.task_name}[{self.task_id}] x{self.deliveries}"


class OperatorAction(models.Model):
    """What a person did to the work from the status page or the admin: who, when, to
    what. ``target`` is unique per ``verb`` where doing it twice would do it twice (a
    requeue), which makes such an action idempotent."""

    class Verb(models.TextChoices):
        REQUEUE = "requeue"
        REPUBLISH = "republish"
        CANCEL = "cancel"

    verb = models.CharField(max_length=20, choices=Verb)
    target = models.CharField(max_length=255, help_text="what it was done to")
    once_key = models.CharField(max_length=300, unique=True, null=True, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    detail = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.verb} {self.target} by {self.actor} at {self.created_at:%Y-%m-%d %H:%M}"


class DjangoTaskResult(models.Model):
    """The stored state of one Django Tasks API task run on Celery by
    ``taskhub.backends.CeleryBackend``: written at enqueue, updated by the worker, read
    by ``get_result`` from any process. Statuses are Django's ``TaskResultStatus``."""

    id = models.CharField(max_length=64, primary_key=True)
    task_path = models.CharField(max_length=300)
    backend = models.CharField(max_length=100)
    queue_name = models.CharField(max_length=100)
    priority = models.SmallIntegerField(default=0)
    run_after = models.DateTimeField(null=True, blank=True)
    args = models.JSONField(default=list)
    kwargs = models.JSONField(default=dict)
    status = models.CharField(max_length=20, default="READY", db_index=True)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True, db_index=True)
    last_attempted_at = models.DateTimeField(null=True, blank=True)
    return_value = models.JSONField(null=True, blank=True)
    errors = models.JSONField(default=list, help_text="[{exception_class_path, traceback}]")
    worker_ids = models.JSONField(default=list)

    class Meta:
        ordering = ["-enqueued_at"]

    def __str__(self) -> str:
        return f"{self.task_path}[{self.id}] {self.status}"


class TaskFailure(models.Model):
    """A taskhub task that failed for good (retries spent, or an error no retry helps),
    recorded by the worker itself (``taskhub.ops.failures.record``): the status page and
    Requeue work whatever result backend the host uses, including one that keeps no
    failures taskhub can read (Redis, RPC). Purged after ``RESULT_RETENTION_DAYS``."""

    task_id = models.CharField(max_length=255, unique=True)
    task_name = models.CharField(max_length=200, db_index=True)
    args = models.JSONField(default=list)
    kwargs = models.JSONField(default=dict)
    exception = models.CharField(max_length=200, help_text="the exception's class")
    message = models.TextField(blank=True)
    traceback = models.TextField(blank=True)
    failed_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-failed_at"]

    def __str__(self) -> str:
        return f"{self.task_name}[{self.task_id}] {self.exception}"
