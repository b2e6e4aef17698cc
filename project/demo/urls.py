from django.urls import path

from project.demo import views

app_name = "demo"

urlpatterns = [
    path("", views.home, name="home"),
    path("accounts/signup/", views.signup, name="signup"),
    path("accounts/signup/done/", views.signup_done, name="signup-done"),
    path("gallery/", views.gallery, name="gallery"),
]
