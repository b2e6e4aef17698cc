"""Service: render an email from templates and send it at most once.

Nothing here knows about Celery. Failures are sorted into two exceptions so that the
caller can decide: ``EmailRejected`` (permanent: retrying cannot help) and
``EmailTemporarilyFailed`` (the mail server or the network blinked: retry later).
"""

import logging
import re
import smtplib
from contextlib import nullcontext
from datetime import timedelta
from enum import StrEnum
from typing import Any

from django.contrib.auth import get_user_model
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.template.loader import render_to_string
from django.utils import timezone

from taskhub import conf
from taskhub.emails import connections
from taskhub.models import SentEmail

logger = logging.getLogger(__name__)

TEMPLATE_NAME = re.compile(r"\A[a-z][a-z0-9_]*\Z")


class EmailRejected(Exception):
    """The email cannot be sent: no such user, no address, a refused recipient."""


class EmailTemporarilyFailed(Exception):
    """The mail server could not be reached or asked us to come back later."""


class Outcome(StrEnum):
    SENT = "sent"
    ALREADY_SENT = "already sent"
    IN_PROGRESS = "being sent by another delivery"


def render(template: str, context: dict[str, Any]) -> tuple[str, str, str]:
    """Subject, text body and HTML body of ``taskhub/email/<template>``."""
    if not TEMPLATE_NAME.match(template):
        raise EmailRejected(f"invalid email template name {template!r}")
    base = f"taskhub/email/{template}"
    subject = " ".join(render_to_string(f"{base}_subject.txt", context).split())
    return (
        subject,
        render_to_string(f"{base}.txt", context),
        render_to_string(f"{base}.html", context),
    )


def is_transient(exc: BaseException) -> bool:
    """Whether a failure to send may succeed later (network, timeouts, SMTP 4xx)."""
    if isinstance(exc, smtplib.SMTPResponseException):
        return 400 <= exc.smtp_code < 500
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return False
    return isinstance(exc, (smtplib.SMTPServerDisconnected, smtplib.SMTPConnectError, OSError))


def send_once(
    *,
    key: str,
    kind: str,
    to: str,
    template: str,
    context: dict[str, Any],
    user: Any = None,
    connection: Any = None,
) -> Outcome:
    """Send the email identified by ``key`` unless it was sent already.

    The row is created already claimed (a unique key, so concurrent deliveries cannot
    both create it); an existing row is claimed with a conditional UPDATE: exactly one
    delivery wins the claim.
    A claim older than the email time limit belongs to a sender that died; it is taken
    over. If the process dies after the server accepted the message but before the row
    says "sent", the message is sent again: SMTP gives no stronger guarantee.
    """
    if not to:
        raise EmailRejected(f"{key}: no recipient address")
    subject, text, html = render(template, context)
    now = timezone.now()
    created = insert_claim(
        key=key,
        kind=kind,
        recipient=to,
        subject=subject,
        user=user,
        claimed_at=now,
        attempts=1,
    )
    lease = timedelta(seconds=conf.time_limit("email").hard)
    claimed = created or (
        SentEmail.objects.filter(key=key, status=SentEmail.Status.CLAIMED)
        .filter(Q(claimed_at__isnull=True) | Q(claimed_at__lt=now - lease))
        .update(claimed_at=now, attempts=F("attempts") + 1)
    )
    if not claimed:
        sent = SentEmail.objects.filter(key=key, status=SentEmail.Status.SENT).exists()
        return Outcome.ALREADY_SENT if sent else Outcome.IN_PROGRESS

    message = EmailMultiAlternatives(subject, text, to=[to], connection=connection)
    message.attach_alternative(html, "text/html")
    try:
        if connection is None:
            connections.send(message)
        else:
            message.send()
    except Exception as exc:
        SentEmail.objects.filter(key=key, claimed_at=now).update(claimed_at=None)
        if is_transient(exc):
            raise EmailTemporarilyFailed(f"{key}: {exc}") from exc
        raise EmailRejected(f"{key}: {exc}") from exc
    SentEmail.objects.filter(key=key).update(
        status=SentEmail.Status.SENT, sent_at=timezone.now(), claimed_at=None
    )
    logger.info("sent %s to %s", key, to)
    return Outcome.SENT


def insert_claim(**fields: Any) -> bool:
    """Create the claimed row; False if a row with its key exists already.

    A first delivery, the common case, costs one INSERT: no SELECT before it, and no
    transaction around it unless the caller is in one (then a savepoint, so that a
    duplicate key does not break the caller's transaction).
    """
    in_transaction = transaction.get_connection().in_atomic_block
    try:
        with transaction.atomic() if in_transaction else nullcontext():
            SentEmail.objects.create(**fields)
    except IntegrityError:
        if not SentEmail.objects.filter(key=fields["key"]).exists():
            raise  # not the duplicate key: a user deleted meanwhile, say
        return False
    return True


def email_address(user: Any) -> str:
    """The user's address, from the field the user model names (``get_email_field_name``)."""
    return getattr(user, user.get_email_field_name(), "") or ""


def send_welcome(username: str, connection: Any = None) -> Outcome:
    """``username`` is the value of the user model's ``USERNAME_FIELD``
    (``user.get_username()``): an email address with an email-login model."""
    model = get_user_model()
    user = model._default_manager.filter(**{model.USERNAME_FIELD: username}).first()
    if user is None:
        raise EmailRejected(f"welcome: no user named {username!r}")
    to = email_address(user)
    if not to:
        raise EmailRejected(f"welcome: user {username!r} has no email address")
    return send_once(
        key=f"welcome:{user.pk}",
        kind="welcome",
        to=to,
        template="welcome",
        context={"user": user, "site_url": conf.get("SITE_URL")},
        user=user,
        connection=connection,
    )
