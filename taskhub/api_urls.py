"""taskhub's JSON API, the report download and the health check, without its HTML
pages: ``path("tasks/", include("taskhub.api_urls"))`` for a host that wants the API
only. ``taskhub.urls`` mounts these and the pages."""

from django.urls import path

from taskhub import status, views

app_name = "taskhub"

urlpatterns = [
    path("health/", status.health_view, name="health"),
    path("reports/<int:pk>/download/", views.report_download, name="report-download"),
    path("api/images/", views.api_images, name="api-images"),
    path("api/images/<int:pk>/", views.api_image, name="api-image"),
    path("api/reports/", views.api_reports, name="api-reports"),
    path("api/reports/<int:pk>/", views.api_report, name="api-report"),
    path("api/reports/<int:pk>/cancel/", views.api_report_cancel, name="api-report-cancel"),
]
