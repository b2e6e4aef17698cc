"""One email connection per thread, kept open across tasks.

An SMTP session costs several round trips (connect, EHLO, STARTTLS, AUTH) before the
first message; a worker that sends thousands of emails pays them once per thread, not
once per email. A connection the server has dropped while idle is replaced and the
message sent again, once. The cached connection follows the email settings
(``MAILERS["default"]`` on Django 6.1+ when the project defines ``MAILERS``, else
``EMAIL_BACKEND``), so tests that switch backends get the new one.
"""

import contextlib
import smtplib
import threading
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage, get_connection

_local = threading.local()


def configured_backend() -> Any:
    """What the default connection is made from. Django 6.1 refuses to read
    ``EMAIL_BACKEND`` at all in a project that defines ``MAILERS``."""
    mailers = getattr(settings, "MAILERS", None)
    if mailers is not None:
        return mailers.get("default")
    return settings.EMAIL_BACKEND


def connection() -> tuple[Any, bool]:
    """This thread's open connection to the default email backend, and whether it is new."""
    cached = getattr(_local, "cached", None)
    backend_setting = configured_backend()
    if cached is not None and cached[0] == backend_setting:
        return cached[1], False
    discard()
    backend = get_connection()
    backend.open()
    _local.cached = (backend_setting, backend)
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
