from django.apps import AppConfig


class TaskhubConfig(AppConfig):
    name = "taskhub"
    verbose_name = "Task hub"
    default_auto_field = "django.db.models.BigAutoField"
