"""One email connection per thread, kept open across tasks.

An SMTP session costs several round trips (connect, EHLO, STARTTLS, AUTH) before the
first message; a worker that sends thousands of emails pays them once per thread, not
once per email. A connection the server has dropped while idle is replaced and the
message sent again, once. The cached connection follows ``EMAIL_BACKEND``, so tests
that switch backends get the new one.
"""

import contextlib
import smtplib
import threading
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage, get_connection

_local = threading.local()


def connection() -> tuple[Any, bool]:
    """This thread's open connection to ``EMAIL_BACKEND``, and whether it is new."""
    cached = getattr(_local, "cached", None)
    if cached is not None and cached[0] == settings.EMAIL_BACKEND:
        return cached[1], False
    discard()
    backend = get_connection()
    backend.open()
    _local.cached = (settings.EMAIL_BACKEND, backend)
    return backend, True


def discard() -> None:
    cached = getattr(_local, "cached", None)
    _local.cached = None
    if cached is not None:
        with contextlib.suppress(OSError, smtplib.SMTPException):
            cached[1].close()


def send(message: EmailMessage) -> None:
    """Send through this thread's connection. A kept connection the server dropped is
    replaced once; any other error propagates, and the connection is dropped."""
    backend, new = connection()
    try:
        try:
            backend.send_messages([message])
        except smtplib.SMTPServerDisconnected:
            if new:
                raise
            discard()
            connection()[0].send_messages([message])
    except Exception:
        discard()
        raise
