"""taskhub: slow work out of the request/response cycle, on Celery workers.

The package is in wings, one per capability (``worker``, ``delivery``, ``emails``,
``images``, ``reports``, ``tasks_api``, ``ops``); ``docs/architecture.md`` maps every
module and says what it may import.
"""

__version__ = "0.2.0"
