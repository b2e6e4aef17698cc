from django.apps import AppConfig


class DemoConfig(AppConfig):
    """Orders and their sales reports: data for taskhub's reports to export."""

    name = "project.demo"
    label = "demo"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from project.demo import reports

        reports.register()
