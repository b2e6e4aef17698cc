"""The demo's signup page creates the user and enqueues the welcome email after commit."""

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

pytestmark = pytest.mark.django_db

URL = reverse("demo:signup")
VALID = {
    "username": "barbara",
    "email": "barbara@example.com",
    "password1": "a long enough passphrase",
    "password2": "a long enough passphrase",
}


def test_the_form_is_shown(client):
    response = client.get(URL)
    assert response.status_code == 200
    assert b'name="username"' in response.content


def test_signup_creates_the_user_and_sends_the_welcome_after_commit(
    client, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(URL, VALID)
    assert response.status_code == 302
    assert response["Location"] == reverse("demo:signup-done")
    assert get_user_model().objects.filter(username="barbara").exists()
    assert mailoutbox == [], "nothing is sent before the transaction commits"
    assert len(callbacks) == 1
    callbacks[0]()
    [message] = mailoutbox
    assert message.to == ["barbara@example.com"]


def test_the_confirmation_page(client):
    response = client.get(reverse("demo:signup-done"))
    assert b"Thanks for signing up" in response.content


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("username", "eve\r\nBcc: victim@example.com"),
        ("username", "eve\nx"),
        ("email", "eve@example.com\r\nBcc: victim@example.com"),
        ("email", "eve@example.com\nX-Injected: 1"),
        ("email", "not-an-address"),
    ],
)
def test_header_injection_and_bad_addresses_are_refused_at_the_form(
    client, mailoutbox, field, value
):
    response = client.post(URL, {**VALID, field: value})
    assert response.status_code == 400
    assert not get_user_model().objects.exists()
    assert mailoutbox == []


def test_an_address_already_in_use_is_refused(client, user):
    response = client.post(URL, {**VALID, "email": "ADA@example.com"})
    assert response.status_code == 400
    assert b"already exists" in response.content


def test_mismatched_passwords_are_refused(client):
    response = client.post(URL, {**VALID, "password2": "something else entirely"})
    assert response.status_code == 400
    assert not get_user_model().objects.exists()


def test_the_new_user_is_logged_in_after_signing_up(client):
    page = client.post(URL, VALID, follow=True)
    assert page.context["user"].username == "barbara"
    assert "You are logged in as <strong>barbara</strong>" in page.content.decode()


def test_errors_are_marked_as_errors_and_the_password_rules_as_help(client):
    page = client.post(URL, {**VALID, "password2": "something else"}).content.decode()
    assert '<ul class="errorlist' in page
    assert '<div class="helptext">' in page
