"""B1's baselines: the signup view as it would be without a queue, sending the welcome
email inside the request, and without any email."""

from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path

from project.demo.forms import SignupForm
from project.urls import urlpatterns as project_urlpatterns
from taskhub.emails import sending as emails


def signup_sending_now(request: HttpRequest) -> HttpResponse:
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            user = form.save()
        emails.send_welcome(user.get_username())
        return redirect("demo:signup-done")
    return render(request, "demo/signup.html", {"form": form}, status=400)


def signup_without_email(request: HttpRequest) -> HttpResponse:
    """The floor: the same work, no email at all, to show what enqueuing adds."""
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            form.save()
        return redirect("demo:signup-done")
    return render(request, "demo/signup.html", {"form": form}, status=400)


urlpatterns = [
    path("bench/signup-sync/", signup_sending_now),
    path("bench/signup-no-email/", signup_without_email),
    *project_urlpatterns,
]
