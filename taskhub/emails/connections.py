"""Open email connections, kept across tasks: a pool per process, one connection per
email being sent at once.

An SMTP session costs several round trips (connect, EHLO, STARTTLS, AUTH) before the
first message; a worker that sends thousands of emails pays them once per connection,
not once per email. A send takes an idle connection (or opens one), and gives it back
when it is done, so a threads pool of 16 keeps at most 16 (and any pool at most
``MAX_IDLE``). A pool rather than one per thread: on gevent (``-P gevent``) a
thread-local is a greenlet-local and every task is a new greenlet, so each email opened
a connection of its own and left it open.

A connection the server has dropped while idle is replaced and the message sent again,
once. The pool follows the email settings (``MAILERS["default"]`` on Django 6.1+ when
the project defines ``MAILERS``, else ``EMAIL_BACKEND``): a connection made for another
setting is closed instead of reused, so tests that switch backends get the new one.
"""

import contextlib
import queue
import smtplib
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage, get_connection

#: At most this many idle connections are kept open (after a burst of a gevent worker's
#: hundreds of greenlets, the rest are closed).
MAX_IDLE = 32
#: Idle connections, each with the setting it was made for; the newest is taken first.
_idle: "queue.LifoQueue[tuple[Any, Any]]" = queue.LifoQueue()


def configured_backend() -> Any:
    """What the default connection is made from. Django 6.1 refuses to read
    ``EMAIL_BACKEND`` at all in a project that defines ``MAILERS``."""
    mailers = getattr(settings, "MAILERS", None)
    if mailers is not None:
        return mailers.get("default")
    return settings.EMAIL_BACKEND


def connection() -> tuple[Any, bool]:
    """An open connection to the default email backend, taken from the idle ones (or
    opened now), and whether it is new. Give it back with ``release``."""
    backend_setting = configured_backend()
    while True:
        try:
            made_for, backend = _idle.get_nowait()
        except queue.Empty:
            break
        if made_for == backend_setting:
            return backend, False
        close(backend)
    return opened(), True


def opened() -> Any:
    """A new, open connection to the default email backend."""
    backend = get_connection()
    backend.open()
    return backend


def release(backend: Any) -> None:
    """Keep ``backend`` for the next send, or close it when ``MAX_IDLE`` are kept."""
    if _idle.qsize() >= MAX_IDLE:
        close(backend)
    else:
        _idle.put((configured_backend(), backend))


def close(backend: Any) -> None:
    with contextlib.suppress(OSError, smtplib.SMTPException):
        backend.close()


def discard() -> None:
    """Close every idle connection."""
    while True:
        try:
            close(_idle.get_nowait()[1])
        except queue.Empty:
            return


def send(message: EmailMessage) -> None:
    """Send through an open connection. A kept connection the server dropped is
    replaced once; any other error propagates, and the connection is closed."""
    backend, new = connection()
    try:
        try:
            backend.send_messages([message])
        except smtplib.SMTPServerDisconnected:
            if new:
                raise
            close(backend)
            backend = opened()
            backend.send_messages([message])
    except BaseException:  # an error, or a greenlet killed mid-send: never kept
        close(backend)
        raise
    release(backend)
