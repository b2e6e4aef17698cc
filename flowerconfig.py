"""Flower reads this file at start (its default ``--conf``): it refuses to run without
authentication. Flower itself takes the credentials from ``FLOWER_BASIC_AUTH``
(``user:password``, comma-separated for several users)."""

import os

if not os.environ.get("FLOWER_BASIC_AUTH"):
    raise SystemExit(
        "FLOWER_BASIC_AUTH is not set: Flower never runs without authentication "
        "(set it to user:password; `make run` generates one into var/flower-basic-auth)"
    )
