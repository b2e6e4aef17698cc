"""The demo's own pages: its home, its sign-up (the way a host sends taskhub's welcome
email from its own registration) and its gallery (a page on taskhub's images API)."""

from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import LogoutView
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from project.demo.forms import SignupForm
from taskhub import outbox
from taskhub.tasks import welcome


def home(request: HttpRequest) -> HttpResponse:
    return render(request, "demo/home.html")


@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    """The user and their welcome email in one transaction: the outbox publishes the
    email after the commit, and keeps it if the broker is down."""
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            user = form.save()
            outbox.enqueue(welcome, user.get_username())
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        return redirect("demo:signup-done")
    return render(request, "demo/signup.html", {"form": form}, status=400 if form.errors else 200)


class LogoutPage(LogoutView):
    """Django's logout, which logs out on POST only; a GET (a typed or bookmarked
    ``/accounts/logout/``) gets a page with the button, not a bare 405."""

    http_method_names = ["get", "post", "options"]

    def get(self, request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        return render(request, "registration/logout.html")


def signup_done(request: HttpRequest) -> HttpResponse:
    return render(request, "demo/signup_done.html")


@login_required
def gallery(request: HttpRequest) -> HttpResponse:
    return render(request, "demo/gallery.html")
