"""Everything taskhub serves: its pages (reports, the staff status page) and
``taskhub.api_urls``. Nothing here creates users or logs them in: that is the host's."""

from django.urls import path

from taskhub import api_urls
from taskhub.ops import views as ops
from taskhub.reports import views as reports

app_name = "taskhub"

urlpatterns = [
    path("taskhub/", ops.status_page, name="status"),
    path("taskhub/<str:action>/<str:key>/", ops.status_action, name="status-action"),
    path("reports/", reports.reports_page, name="reports"),
    path("reports/<int:pk>/", reports.report_page, name="report"),
    *api_urls.urlpatterns,
]
