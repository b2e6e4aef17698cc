"""The email service and the email tasks: sent once, retried when it may help, never twice."""

import smtplib
from datetime import timedelta

import pytest
from django.core.mail.backends.locmem import EmailBackend
from django.utils import timezone

from taskhub import conf
from taskhub.emails import sending as emails
from taskhub.models import SentEmail
from taskhub.tasks import send_email, welcome

pytestmark = pytest.mark.django_db


class FlakyBackend(EmailBackend):
    """Django's test backend, failing with the given errors first."""

    errors: list[Exception] = []

    def send_messages(self, messages):
        if self.errors:
            raise self.errors.pop(0)
        return super().send_messages(messages)


@pytest.fixture
def flaky(settings):
    settings.EMAIL_BACKEND = "tests.emails.test_emails.FlakyBackend"
    FlakyBackend.errors = []
    return FlakyBackend.errors


def test_welcome_renders_text_and_html_and_records_the_send(user, mailoutbox):
    assert emails.send_welcome("ada") == emails.Outcome.SENT
    [message] = mailoutbox
    assert message.to == ["ada@example.com"]
    assert message.subject == "Welcome to taskhub, ada"
    assert "Hello ada" in message.body
    html, mimetype = message.alternatives[0]
    assert mimetype == "text/html"
    assert "<p>Hello ada,</p>" in html
    row = SentEmail.objects.get(key=f"welcome:{user.pk}")
    assert (row.status, row.attempts, row.user) == ("sent", 1, user)


def test_a_second_delivery_sends_nothing(user, mailoutbox):
    emails.send_welcome("ada")
    assert emails.send_welcome("ada") == emails.Outcome.ALREADY_SENT
    assert len(mailoutbox) == 1


def test_a_delivery_running_concurrently_is_left_alone(user, mailoutbox):
    SentEmail.objects.create(
        key=f"welcome:{user.pk}", kind="welcome", recipient=user.email, claimed_at=timezone.now()
    )
    assert emails.send_welcome("ada") == emails.Outcome.IN_PROGRESS
    assert mailoutbox == []


def test_the_claim_of_a_dead_sender_expires_and_is_taken_over(user, mailoutbox):
    lease = conf.time_limit("email").hard
    SentEmail.objects.create(
        key=f"welcome:{user.pk}",
        kind="welcome",
        recipient=user.email,
        claimed_at=timezone.now() - timedelta(seconds=lease + 1),
        attempts=1,
    )
    assert emails.send_welcome("ada") == emails.Outcome.SENT
    assert len(mailoutbox) == 1
    assert SentEmail.objects.get(key=f"welcome:{user.pk}").attempts == 2


def test_no_such_user_is_permanent(db):
    with pytest.raises(emails.EmailRejected, match="no user named 'ghost'"):
        emails.send_welcome("ghost")


def test_a_user_without_an_address_is_permanent(django_user_model):
    django_user_model.objects.create_user("nomail", "", "pw-pw-pw-pw")
    with pytest.raises(emails.EmailRejected, match="has no email address"):
        emails.send_welcome("nomail")
    assert not SentEmail.objects.exists()


def test_a_connection_failure_is_transient_and_releases_the_claim(user, flaky, mailoutbox):
    flaky.append(smtplib.SMTPServerDisconnected("gone"))
    with pytest.raises(emails.EmailTemporarilyFailed):
        emails.send_welcome("ada")
    assert SentEmail.objects.get(key=f"welcome:{user.pk}").claimed_at is None
    assert emails.send_welcome("ada") == emails.Outcome.SENT
    assert len(mailoutbox) == 1


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (smtplib.SMTPServerDisconnected("x"), True),
        (smtplib.SMTPConnectError(421, b"busy"), True),
        (smtplib.SMTPDataError(451, b"try later"), True),
        (TimeoutError("timed out"), True),
        (ConnectionRefusedError(111, "refused"), True),
        (smtplib.SMTPDataError(554, b"rejected"), False),
        (smtplib.SMTPAuthenticationError(535, b"bad credentials"), False),
        (smtplib.SMTPRecipientsRefused({"a@b": (550, b"no such user")}), False),
        (ValueError("bug"), False),
    ],
)
def test_which_failures_are_worth_a_retry(error, transient):
    assert emails.is_transient(error) is transient


@pytest.fixture
def eager_retries(settings):
    """In eager mode Celery runs a retry inline, but only when errors do not propagate."""
    settings.CELERY_TASK_EAGER_PROPAGATES = False


def test_the_task_retries_a_transient_failure_then_sends_once(
    user, flaky, mailoutbox, eager_retries
):
    flaky.extend([TimeoutError("slow"), smtplib.SMTPServerDisconnected("gone")])
    result = welcome.delay("ada")
    assert (result.state, result.result) == ("SUCCESS", "sent")
    assert len(mailoutbox) == 1
    assert SentEmail.objects.get(key=f"welcome:{user.pk}").attempts == 3


def test_retries_are_bounded(user, flaky, mailoutbox, eager_retries):
    flaky.extend([TimeoutError("down")] * 20)
    result = welcome.delay("ada")
    assert result.state == "FAILURE"
    assert isinstance(result.result, emails.EmailTemporarilyFailed)
    assert mailoutbox == []
    assert SentEmail.objects.get(key=f"welcome:{user.pk}").attempts == 1 + welcome.max_retries


def test_a_permanent_failure_is_not_retried(user, flaky):
    flaky.extend([smtplib.SMTPRecipientsRefused({"ada@example.com": (550, b"no")})] * 5)
    with pytest.raises(emails.EmailRejected):
        welcome.delay("ada")
    assert len(flaky) == 4
    assert SentEmail.objects.get(key=f"welcome:{user.pk}").attempts == 1


def test_email_tasks_back_off_exponentially_with_jitter_and_a_rate_limit():
    for task in (welcome, send_email):
        assert task.retry_backoff is True
        assert task.retry_jitter is True
        assert task.max_retries == conf.DEFAULTS["EMAIL_MAX_RETRIES"]
        assert task.rate_limit == conf.DEFAULTS["EMAIL_RATE_LIMIT"]


def test_send_email_without_a_key_is_once_per_task_id(mailoutbox):
    context = {"kind": "Orders", "rows": 3, "url": "http://x/r/1"}
    result = send_email.apply(
        kwargs={"to": "b@example.com", "template": "report_ready", "context": context},
        task_id="fixed-id",
    )
    assert result.get() == "sent"
    again = send_email.apply(
        kwargs={"to": "b@example.com", "template": "report_ready", "context": context},
        task_id="fixed-id",
    )
    assert again.get() == "already sent"
    assert len(mailoutbox) == 1
    assert mailoutbox[0].subject == "Your Orders report is ready (3 rows)"


@pytest.mark.parametrize("name", ["../../secrets", "Welcome", "", "a/b"])
def test_only_taskhub_email_templates_can_be_named(name):
    with pytest.raises(emails.EmailRejected, match="invalid email template name"):
        emails.render(name, {})


def test_a_host_overrides_an_email_template_the_django_way(user, mailoutbox, settings, tmp_path):
    override = tmp_path / "templates" / "taskhub" / "email"
    override.mkdir(parents=True)
    (override / "welcome_subject.txt").write_text("Hello from the host, {{ user.username }}")
    settings.TEMPLATES = [{**settings.TEMPLATES[0], "DIRS": [tmp_path / "templates"]}]
    emails.send_welcome("ada")
    [message] = mailoutbox
    assert message.subject == "Hello from the host, ada"
    assert "Hello ada" in message.body, "the templates it does not override are taskhub's"
