"""Django's settings as Celery reads them, each answer kept until a setting changes.

Celery reads its configuration on every ``.delay()`` (``task_always_eager``,
``task_send_sent_event``, ``broker_pool_acquire_timeout``...), and a Django project's
``config_from_object("django.conf:settings", namespace="CELERY")`` makes each read try
up to three names on Django's settings (``CELERY_TASK_ALWAYS_EAGER``,
``task_always_eager``, ``CELERY_ALWAYS_EAGER``), every miss an ``AttributeError``
raised and caught: about 35 us a key, a quarter of a ``.delay()`` on Redis (B2).
The cache is emptied whenever the object behind ``django.conf.settings`` is replaced,
as ``override_settings`` (and pytest-django's ``settings``) does for every change, a
deletion included. Settings changed by assigning to them at run time, which Django
does not support, are not seen.
"""

from typing import Any

from celery.utils.collections import DictAttribute
from django.conf import settings

_UNSET, _MISSING = object(), object()


class CachedSettings(DictAttribute):
    """Celery's map of Django's settings (``DictAttribute``), with every answer kept."""

    answers: dict[str, Any]
    holder: Any

    def __init__(self, obj: Any) -> None:
        super().__init__(obj)
        object.__setattr__(self, "answers", {})
        object.__setattr__(self, "holder", None)

    def __getitem__(self, key: str) -> Any:
        holder = self.obj._wrapped
        if holder is not self.holder:
            self.answers.clear()
            object.__setattr__(self, "holder", holder)
        value = self.answers.get(key, _UNSET)
        if value is _UNSET:
            value = self.answers[key] = getattr(self.obj, key, _MISSING)
        if value is _MISSING:
            raise KeyError(key)
        return value

    def __contains__(self, key: object) -> bool:
        try:
            self[key]  # type: ignore[index]
        except KeyError:
            return False
        return True

    def __setitem__(self, key: str, value: Any) -> None:
        self.answers.clear()
        super().__setitem__(key, value)

    __setattr__ = __setitem__


def cache_django_settings(view: Any) -> None:
    """Put ``CachedSettings`` in place of the map of Django's settings in Celery's
    configuration ``view`` (in its ``maps`` and its ``defaults``, which share it)."""
    for mapping in view.maps:
        if type(mapping) is DictAttribute and mapping.obj is settings:
            cached = CachedSettings(settings)
            for maps in (view.maps, view.defaults):
                maps[:] = [cached if m is mapping else m for m in maps]
            return
