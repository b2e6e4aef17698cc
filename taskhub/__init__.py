"""taskhub: slow work out of the request/response cycle, on Celery workers."""
