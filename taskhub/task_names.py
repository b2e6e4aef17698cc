"""Every taskhub task's name: the one place that spells them.

Messages in queues and rows in the outbox carry these names, so a name never changes
once released. Services send a task by its name (``outbox.enqueue(MAKE_THUMBNAILS, pk)``)
and never import the task itself; the routes, the schedule and the tasks' own
``@shared_task(name=...)`` use the same constants.
"""

#: Every name starts with this; the host's tasks are the host's business.
PREFIX = "taskhub."

WELCOME = "taskhub.welcome"
SEND_EMAIL = "taskhub.send_email"
MAKE_THUMBNAILS = "taskhub.make_thumbnails"
GENERATE_REPORT = "taskhub.generate_report"
SEND_DAILY_REPORTS = "taskhub.send_daily_reports"
RELAY_OUTBOX = "taskhub.relay_outbox"
PURGE_TASK_RESULTS = "taskhub.purge_task_results"
PURGE_EXPIRED_FILES = "taskhub.purge_expired_files"
RUN_DJANGO_TASK = "taskhub.run_django_task"
ENQUEUE_DJANGO_TASK = "taskhub.enqueue_django_task"
