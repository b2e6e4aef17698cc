"""Celery's configuration as ``.delay()`` reads it, each answer kept until a setting
changes.

Celery reads its configuration 7 times a ``.delay()`` (``task_always_eager``,
``task_send_sent_event``, ``broker_pool_acquire_timeout``...). On a Django project's app
(``config_from_object("django.conf:settings", namespace="CELERY")``) each read tries
every name the setting has (``CELERY_TASK_ALWAYS_EAGER``, ``task_always_eager``,
``CELERY_ALWAYS_EAGER``) on every map of the view in turn (the host's changes, Django's
settings, taskhub's defaults, Celery's), every miss a ``KeyError`` raised and caught:
8 us a read against Celery's 3 us without Django, and a third of a ``.delay()`` on
RabbitMQ (B2).

``configure(app)`` makes the app's view a ``CachedConfiguration``: the same view, which
keeps each answer until the view changes (a setting assigned, ``update``,
``add_defaults``...) or the object behind Django's settings is replaced, as
``override_settings`` and pytest-django's ``settings`` do for every change, a deletion
included. An answer computed on every read (taskhub's defaults that follow
other settings or the process, a map's ``computed``) is never kept. Django's settings
changed by assigning to them at run time, which Django does not support, are not seen.
"""

import functools
from collections.abc import Callable
from typing import Any

from celery.app.utils import Settings
from django.conf import settings


def _settings_holder() -> object:
    """The object behind ``django.conf.settings``, which ``override_settings`` (and
    pytest-django's ``settings``) replaces for every change, a deletion included; read
    from the lazy object's own ``__dict__``, as cheap as a dict lookup."""
    return vars(settings)["_wrapped"]


class Answers(dict[str, Any]):
    """A view's answers; the holder of Django's settings they were read from; and the
    view's version, bumped by every change, so that an answer read while the view
    changed is not kept."""

    holder: object = None
    version = 0


def _changes(method: Callable[..., Any]) -> Callable[..., Any]:
    """A method of the view that changes it: its answers are forgotten once it has."""

    @functools.wraps(method)
    def changing(self: "CachedConfiguration", *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        finally:
            answers = self.__dict__["answers"]
            answers.version += 1
            answers.clear()

    return changing


class CachedConfiguration(Settings):
    """Celery's ``Settings`` view, with every answer kept. Its state lives in
    ``__dict__`` itself: the view's attributes are settings (``conf.x = 1`` sets one).
    Writes straight into its maps (``conf.changes[...]``), which Celery itself does
    only on a fresh copy, are not seen."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.__dict__["answers"] = Answers()  # Celery's __init__ sets a setting
        super().__init__(*args, **kwargs)

    def __getitem__(self, key: str) -> Any:
        answers = self.__dict__["answers"]
        holder = _settings_holder()
        if answers.holder is not holder:
            answers.clear()
            answers.holder = holder
        try:
            return answers[key]
        except KeyError:
            version = answers.version
            value = super().__getitem__(key)
            if answers.version == version and not self._computed(key):
                answers[key] = value
            return value

    def _computed(self, key: str) -> bool:
        names = self._to_keys(key)
        maps = self.maps or ()
        return any(name in getattr(m, "computed", ()) for m in maps for name in names)

    __setitem__ = _changes(Settings.__setitem__)
    __delitem__ = _changes(Settings.__delitem__)
    update = _changes(Settings.update)
    setdefault = _changes(Settings.setdefault)
    add_defaults = _changes(Settings.add_defaults)
    pop = _changes(Settings.pop)
    clear = _changes(Settings.clear)
    swap_with = _changes(Settings.swap_with)


def cache_configuration(view: Any) -> None:
    """Make Celery's configuration ``view`` (``app.conf``) a ``CachedConfiguration``."""
    if type(view) is Settings:
        object.__setattr__(view, "__class__", CachedConfiguration)
        view.__dict__["answers"] = Answers()
