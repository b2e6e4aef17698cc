"""``from taskhub import confirms; with confirms.collected(): ...``, as the documentation
shows. The confirms live in ``taskhub.delivery.confirms``."""

from taskhub.delivery.confirms import collected

__all__ = ["collected"]
