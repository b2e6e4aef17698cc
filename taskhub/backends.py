"""``TASKS = {"default": {"BACKEND": "taskhub.backends.CeleryBackend"}}``: the path hosts
name the backend by. It lives in ``taskhub.tasks_api.backend``."""

from taskhub.tasks_api.backend import CeleryBackend

__all__ = ["CeleryBackend"]
