"""What a person did to the work by hand (a requeue, a republish, a cancel), recorded as
an ``OperatorAction``: who, when, to what. An action done once refuses a second time, in
words (``ActionRefused``), which makes it idempotent however often it is asked for."""

from typing import Any

from django.db import IntegrityError, transaction

from taskhub.models import OperatorAction


class ActionRefused(Exception):
    """The action does not apply (any more); the message says why, to a person."""


#: Each verb as "this was already ..." says it.
DONE: dict[str, str] = {
    OperatorAction.Verb.REQUEUE: "requeued",
    OperatorAction.Verb.REPUBLISH: "republished",
    OperatorAction.Verb.CANCEL: "cancelled",
}


def record(verb: str, target: str, actor: Any, detail: str, once: bool) -> OperatorAction:
    """Record the action; with ``once``, refuse it if it was done already."""
    actor = actor if getattr(actor, "pk", None) else None
    try:
        with transaction.atomic():
            return OperatorAction.objects.create(
                verb=verb,
                target=target,
                once_key=f"{verb}:{target}" if once else None,
                actor=actor,
                detail=detail,
            )
    except IntegrityError:
        done = OperatorAction.objects.get(once_key=f"{verb}:{target}")
        raise ActionRefused(
            f"This was already {DONE[verb]} by {done.actor or 'someone'} "
            f"at {done.created_at:%Y-%m-%d %H:%M:%S}."
        ) from None
