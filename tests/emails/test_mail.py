"""taskhub.emails.connections: a pool of open email connections, one per email being
sent at once, kept across sends, replaced once when the server dropped it."""

import smtplib
import threading

import pytest
from django.core import mail as django_mail
from django.core.mail import EmailMessage
from django.core.mail.backends.locmem import EmailBackend

from taskhub.emails import connections as mail


class CountingBackend(EmailBackend):
    """Django's test backend, counting connections; ``drop_after`` sends the server
    drops the connection (the next send raises SMTPServerDisconnected)."""

    opened: list["CountingBackend"] = []
    drop_after: int | None = None

    def open(self):
        self.sends = 0
        CountingBackend.opened.append(self)
        return True

    def send_messages(self, messages):
        if self.drop_after is not None and self.sends >= self.drop_after:
            raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")
        self.sends += 1
        return super().send_messages(messages)


@pytest.fixture(autouse=True)
def counting(settings):
    settings.EMAIL_BACKEND = "tests.emails.test_mail.CountingBackend"
    CountingBackend.opened = []
    CountingBackend.drop_after = None
    mail.discard()
    django_mail.outbox = []
    yield
    mail.discard()


def message(n: int) -> EmailMessage:
    return EmailMessage(f"hello {n}", "body", to=[f"{n}@example.com"])


def test_one_connection_serves_every_send_one_after_another():
    for n in range(5):
        mail.send(message(n))
    assert len(CountingBackend.opened) == 1
    assert len(django_mail.outbox) == 5


class TogetherBackend(CountingBackend):
    """Each send waits until three are sending at once."""

    together = threading.Barrier(3)

    def send_messages(self, messages):
        TogetherBackend.together.wait(timeout=10)
        return super().send_messages(messages)


def test_sends_at_once_each_have_a_connection_and_all_are_kept(settings):
    """Threads (or greenlets: the pool is no thread-local) sending together."""
    settings.EMAIL_BACKEND = "tests.emails.test_mail.TogetherBackend"
    threads = [threading.Thread(target=mail.send, args=(message(n),)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(CountingBackend.opened) == 3
    settings.EMAIL_BACKEND = "tests.emails.test_mail.CountingBackend"
    mail.send(message(3))
    assert len(CountingBackend.opened) == 4, "connections of another setting are not reused"
    mail.send(message(4))
    assert len(CountingBackend.opened) == 4, "a kept connection is reused"
    assert len(django_mail.outbox) == 5


def test_a_kept_connection_the_server_dropped_is_replaced_and_the_message_sent_once():
    CountingBackend.drop_after = 1
    mail.send(message(1))
    mail.send(message(2))
    assert len(CountingBackend.opened) == 2
    assert [m.subject for m in django_mail.outbox] == ["hello 1", "hello 2"]


def test_a_new_connection_that_fails_raises_and_is_dropped():
    CountingBackend.drop_after = 0
    with pytest.raises(smtplib.SMTPServerDisconnected):
        mail.send(message(1))
    assert django_mail.outbox == []
    CountingBackend.drop_after = None
    mail.send(message(2))
    assert len(CountingBackend.opened) == 2, "the failed connection was not kept"


def test_a_new_email_backend_setting_gets_a_new_connection(settings):
    mail.send(message(1))
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    backend, new = mail.connection()
    assert new
    assert type(backend) is EmailBackend
