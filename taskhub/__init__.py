"""taskhub: slow work out of the request/response cycle, on Celery workers."""

__version__ = "0.2.0"
