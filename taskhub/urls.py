"""Everything taskhub serves: its pages (reports, the staff status page) and
``taskhub.api_urls``. Nothing here creates users or logs them in: that is the host's."""

from django.urls import path

from taskhub import api_urls, status, views

app_name = "taskhub"

urlpatterns = [
    path("taskhub/", status.status_page, name="status"),
    path("taskhub/<str:action>/<str:key>/", status.status_action, name="status-action"),
    path("reports/", views.reports_page, name="reports"),
    path("reports/<int:pk>/", views.report_page, name="report"),
    *api_urls.urlpatterns,
]
