"""``from taskhub import outbox; outbox.enqueue(task, *args)``, as the documentation shows. The
outbox lives in ``taskhub.delivery.outbox``."""

from taskhub.delivery.outbox import enqueue, enqueue_with_options

__all__ = ["enqueue", "enqueue_with_options"]
