from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.urls import include, path

from project.demo.views import LogoutPage

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/logout/", LogoutPage.as_view(), name="logout"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("", include("project.demo.urls")),
    path("", include("taskhub.urls")),
]
if settings.DEBUG:
    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
