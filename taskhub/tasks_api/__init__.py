"""Django's Tasks API on Celery: the compat imports, the message options, the backend,
the result rows, the runner task, and the resend of results never started. Hosts name
the backend ``taskhub.backends.CeleryBackend``."""
