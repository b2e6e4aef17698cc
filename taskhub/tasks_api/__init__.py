"""Django's Tasks API on Celery: the compat imports, the backend, the result rows, the
runner task. Hosts name the backend ``taskhub.backends.CeleryBackend``."""
