"""``from taskhub import fanout; fanout.send_many(task, calls)``, as the documentation shows.
Fan-out lives in ``taskhub.delivery.fanout``."""

from taskhub.delivery.fanout import send_many

__all__ = ["send_many"]
