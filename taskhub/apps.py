from django.apps import AppConfig


class TaskhubConfig(AppConfig):
    name = "taskhub"
    verbose_name = "Task hub"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.core.signals import request_finished

        from taskhub import outbox

        request_finished.connect(outbox.publish_deferred, dispatch_uid="taskhub_outbox")
