"""taskhub's JSON API, the report download and the health check, without its HTML
pages: ``path("tasks/", include("taskhub.api_urls"))`` for a host that wants the API
only. ``taskhub.urls`` mounts these and the pages."""

from django.urls import path

from taskhub.images import views as images
from taskhub.ops import views as ops
from taskhub.reports import views as reports

app_name = "taskhub"

urlpatterns = [
    path("health/", ops.health_view, name="health"),
    path("reports/<int:pk>/download/", reports.report_download, name="report-download"),
    path("api/images/", images.api_images, name="api-images"),
    path("api/images/<int:pk>/", images.api_image, name="api-image"),
    path("api/images/<int:pk>/retry/", images.api_image_retry, name="api-image-retry"),
    path("api/reports/", reports.api_reports, name="api-reports"),
    path("api/reports/<int:pk>/", reports.api_report, name="api-report"),
    path("api/reports/<int:pk>/cancel/", reports.api_report_cancel, name="api-report-cancel"),
]
