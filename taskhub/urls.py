from django.urls import path

from taskhub import status, views

app_name = "taskhub"

urlpatterns = [
    path("", views.home, name="home"),
    path("health/", status.health_view, name="health"),
    path("taskhub/", status.status_page, name="status"),
    path("accounts/signup/", views.signup, name="signup"),
    path("accounts/signup/done/", views.signup_done, name="signup-done"),
    path("gallery/", views.gallery, name="gallery"),
    path("reports/", views.reports_page, name="reports"),
    path("reports/<int:pk>/", views.report_page, name="report"),
    path("reports/<int:pk>/download/", views.report_download, name="report-download"),
    path("api/images/", views.api_images, name="api-images"),
    path("api/images/<int:pk>/", views.api_image, name="api-image"),
    path("api/reports/", views.api_reports, name="api-reports"),
    path("api/reports/<int:pk>/", views.api_report, name="api-report"),
    path("api/reports/<int:pk>/cancel/", views.api_report_cancel, name="api-report-cancel"),
    path("taskhub/<str:action>/<str:key>/", status.status_action, name="status-action"),
]
