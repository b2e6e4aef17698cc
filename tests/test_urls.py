"""taskhub's URLs hold only reusable parts: no page creates users or logs them in (the
host's registration, e.g. allauth, stays the only way in); the API mounts without the
pages; the nav links to the host's own login and logout, and to the host's pages only
through the ``taskhub/site_nav.html`` it overrides."""

import re
from collections.abc import Callable, Iterator

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from django.template.loader import render_to_string
from django.test import RequestFactory
from django.urls import URLPattern, URLResolver, get_resolver, include, path

# A host that mounts taskhub's URLs and nothing else (the tests below that say so).
urlpatterns = [path("", include("taskhub.urls"))]

API = {
    "health",
    "report-download",
    "api-images",
    "api-image",
    "api-image-retry",
    "api-reports",
    "api-report",
    "api-report-cancel",
}
PAGES = {"reports", "report", "status", "status-action"}
SIGNUP_LIKE = {
    "username": "mallory",
    "email": "mallory@example.com",
    "password": "a long enough passphrase",
    "password1": "a long enough passphrase",
    "password2": "a long enough passphrase",
}


def walk(patterns: list, prefix: str = "") -> Iterator[tuple[str, URLPattern]]:
    """(route, pattern) of every view a URL list mounts, includes followed."""
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from walk(pattern.url_patterns, route)
        else:
            yield route, pattern


def views_of(urlconf: str) -> dict[str, Callable]:
    mounted = list(walk(get_resolver(urlconf).url_patterns))
    names = [pattern.name for _, pattern in mounted]
    assert len(names) == len(set(names)), f"a name mounted twice in {urlconf}: {names}"
    return {pattern.name: pattern.callback for _, pattern in mounted}


def test_taskhub_urls_mount_exactly_its_reusable_views():
    """A signup (or home, or gallery) page coming back into taskhub.urls fails here."""
    views = views_of("taskhub.urls")
    assert set(views) == PAGES | API
    assert {view.__module__ for view in views.values()} == {
        "taskhub.images.views",
        "taskhub.reports.views",
        "taskhub.ops.views",
    }


def test_the_api_urls_mount_the_api_the_download_and_health_only():
    assert set(views_of("taskhub.api_urls")) == API


def test_no_route_of_taskhub_is_an_account_page():
    routes = [route for route, _ in walk(get_resolver("taskhub.urls").url_patterns)]
    assert not [r for r in routes if re.search(r"sign|regist|account|login|logout", r)], routes


def filled(route: str) -> str:
    """A concrete path for a route: 1 for each int, "x" for each str."""
    return "/" + re.sub(r"<str:\w+>", "x", re.sub(r"<int:\w+>", "1", route))


@pytest.mark.urls(__name__)
@pytest.mark.django_db
def test_no_taskhub_url_creates_a_user_or_logs_one_in(client, settings):
    """Signup-like data POSTed, as a form and as JSON, to every path taskhub mounts."""
    settings.LOGIN_URL = "/login/"
    users = get_user_model().objects.count()
    for route, _ in walk(get_resolver("taskhub.urls").url_patterns):
        client.post(filled(route), SIGNUP_LIKE)
        client.post(filled(route), SIGNUP_LIKE, content_type="application/json")
        assert get_user_model().objects.count() == users, route
        assert "_auth_user_id" not in client.session, route


def page(user, settings, **overrides) -> str:
    """taskhub's base template as ``user`` sees it."""
    for name, value in overrides.items():
        setattr(settings, name, value)
    request = RequestFactory().get("/reports/")
    request.user = user
    return render_to_string("taskhub/base.html", request=request)


@pytest.fixture
def own_templates_only(settings):
    """A host that overrides none of taskhub's templates (not the demo's project/templates)."""
    settings.TEMPLATES = [{**settings.TEMPLATES[0], "DIRS": []}]


@pytest.mark.django_db
def test_the_nav_links_to_the_hosts_login_and_no_page_of_the_demo(own_templates_only, settings):
    html = page(AnonymousUser(), settings, LOGIN_URL="/sign-in/")
    assert '<a class="brand" href="/">taskhub</a>' in html
    assert '<a href="/sign-in/">Log in</a>' in html
    assert "Sign up" not in html and "/accounts/signup/" not in html
    assert "Gallery" not in html and "/gallery/" not in html


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("setting", "action"),
    [("logout", "/accounts/logout/"), ("/bye/", "/bye/"), ("account_logout", None)],
)
def test_log_out_posts_to_taskhub_logout_url_when_it_resolves(
    own_templates_only, settings, user, setting, action
):
    """A URL name or a path; allauth's name on a host without allauth: no button."""
    html = page(user, settings, TASKHUB_LOGOUT_URL=setting)
    assert '<span class="muted">ada</span>' in html
    if action is None:
        assert "Log out" not in html
    else:
        assert f'<form class="inline" method="post" action="{action}">' in html
        assert "Log out</button>" in html


@pytest.mark.django_db
def test_the_demo_puts_its_own_links_in_the_nav(settings, user):
    anonymous = page(AnonymousUser(), settings)
    assert '<a class="right" href="/accounts/signup/">Sign up</a>' in anonymous
    assert "/gallery/" not in anonymous
    logged_in = page(user, settings)
    assert '<a href="/gallery/">Gallery</a>' in logged_in
    assert "Sign up" not in logged_in
